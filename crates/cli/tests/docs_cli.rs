//! Shell completions and man pages are generated from the clap definition
//! (issue 10, item 7): they name every subcommand and flag, and an unknown
//! shell is a usage error (exit 2).

use std::process::Command;

fn hpaxos(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hpaxos"))
        .args(args)
        .output()
        .expect("the hpaxos binary runs")
}

#[test]
fn completions_cover_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let o = hpaxos(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let s = String::from_utf8_lossy(&o.stdout);
        for word in ["testnet", "graph", "client", "nodes", "timeout"] {
            assert!(s.contains(word), "{shell} completion lacks {word}");
        }
    }
    assert_eq!(hpaxos(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn man_pages_for_every_subcommand() {
    let d = tempfile::tempdir().unwrap();
    let o = hpaxos(&["man", "--out", d.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    for page in [
        "hpaxos.1",
        "hpaxos-testnet.1",
        "hpaxos-graph-explain.1",
        "hpaxos-client-put.1",
    ] {
        assert!(d.path().join(page).is_file(), "{page}");
    }
    let t = std::fs::read_to_string(d.path().join("hpaxos-testnet.1")).unwrap();
    assert!(t.starts_with(".ie") && t.contains("\\-\\-nodes"), "{t}");
    let o = hpaxos(&["man"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains(".TH hpaxos 1"));
}

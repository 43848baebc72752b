//! `hpaxos completions SHELL` and `hpaxos man [--out DIR]`: shell completion
//! scripts and man pages generated from the clap definition of the command
//! line, so they never drift from it.

use crate::Outcome;
use anyhow::Context;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

#[derive(clap::Args)]
pub struct ManArgs {
    /// Write hpaxos.1 and one page per subcommand (hpaxos-graph.1, ...) into
    /// DIR instead of printing hpaxos.1 on stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn completions(a: CompletionsArgs, mut cmd: clap::Command) -> anyhow::Result<Outcome> {
    let name = cmd.get_name().to_string();
    clap_complete::generate(a.shell, &mut cmd, name, &mut std::io::stdout());
    Ok(Outcome::Ok)
}

/// Renders `cmd` and, recursively, its subcommands into `dir`.
fn write_pages(dir: &Path, cmd: &clap::Command, prefix: &str) -> anyhow::Result<usize> {
    let name = if prefix.is_empty() {
        cmd.get_name().to_string()
    } else {
        format!("{prefix}-{}", cmd.get_name())
    };
    let page = cmd.clone().name(name.clone());
    let mut buf = Vec::new();
    clap_mangen::Man::new(page).render(&mut buf)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
    let mut n = 1;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        n += write_pages(dir, sub, &name)?;
    }
    Ok(n)
}

pub fn man(a: ManArgs, cmd: clap::Command) -> anyhow::Result<Outcome> {
    match a.out {
        None => {
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let n = write_pages(&dir, &cmd, "")?;
            eprintln!("wrote {n} man pages to {}", dir.display());
        }
    }
    Ok(Outcome::Ok)
}

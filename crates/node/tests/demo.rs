//! The demo's code path end to end (what `hpaxos demo` runs), with the
//! `hpaxos-node` binary standing in for `hpaxos`: a 5-node cluster from the
//! embedded configuration commits a short workload, every replica of both
//! learners holds the same log, and the run reports it.

use hpaxos_node::demo::{run_demo, DemoArgs};

#[test]
fn demo_commits_the_workload_and_learners_agree() {
    let report = run_demo(DemoArgs {
        exe: env!("CARGO_BIN_EXE_hpaxos-node").into(),
        pre_args: vec!["node".into()],
        commands: 300,
        clients: 32,
        keep: false,
        json: true,
    })
    .unwrap();
    assert_eq!(report.committed, 300);
    assert_eq!(report.failed, 0);
    assert!(report.all_agree);
    assert_eq!(report.replicas.len(), 10, "5 nodes x 2 learners");
    assert!(report.replicas.iter().all(|r| r.commands == 300));
    assert!(report.learners_agree.values().all(|a| *a));
    assert!(report.fsyncs > 0 && report.wal_records >= report.fsyncs);
}

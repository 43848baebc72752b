//! Symmetry reduction is exact (issue 12, item 2): on instances whose trust
//! lets safe acceptors be permuted, the reduced search visits exactly one
//! state per orbit of the full search's states (the premise: transitions
//! commute with the group, so the orbits of reachable states are the
//! reduced search's states), the verdict and the violated properties are
//! those of the full search, with and without the refinement monitor (whose
//! fingerprint is renamed with the state), with a restart, and on an invalid
//! graph that must fail; and the same holds with the sleep-set reduction
//! on top of symmetry (sleep sets kept in the names of each orbit's
//! representative, `crate::search`): the same states (one per orbit), the
//! same verdicts, fewer transitions. On every CI instance of `.ci/run` the group is
//! computed and is the identity except where stated, so `--symmetry on`
//! explores exactly the same states there.

use hpaxos_check::monitor::{MonitorFactory, RefinementCheck};
use hpaxos_check::{model::CheckModel, run, Engine, Fake1b, Instance, Limits, Options, Report};
use hpaxos_core::{graph::GraphError, AccSet, Trust};
use std::sync::Arc;

fn trust(file: &str) -> Trust {
    let path = format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let cfg = hpaxos_config::load_file(&path).expect("fixture loads");
    match cfg.validate() {
        Ok(t) => t,
        Err(GraphError::Invalid(_)) => Trust::unchecked(cfg.graph.clone()).expect("shape"),
        Err(e) => panic!("{file}: {e}"),
    }
}

fn ids(t: &Trust, names: &[&str]) -> AccSet {
    names
        .iter()
        .map(|n| {
            t.acceptors()
                .find(|a| t.acceptor_name(*a) == *n)
                .expect("known acceptor")
        })
        .collect()
}

struct Case {
    what: &'static str,
    file: &'static str,
    fake: &'static [&'static str],
    restart: &'static [&'static str],
    opts: Options,
    refinement: bool,
}

impl Case {
    fn instance(&self) -> Instance {
        let t = trust(self.file);
        let opts = Options {
            fake: ids(&t, self.fake),
            restart: ids(&t, self.restart),
            ..self.opts.clone()
        };
        Instance::new(t, opts).expect("instance")
    }

    /// `sym`: build the model with symmetry; `count_orbits`: explore every
    /// state anyway and count their orbits; `sleep_sets`: the sleep-set
    /// reduction on.
    fn run(&self, sym: bool, count_orbits: bool, sleep_sets: bool) -> (usize, Report) {
        let monitor: Option<Arc<dyn MonitorFactory>> = if self.refinement {
            Some(Arc::new(RefinementCheck))
        } else {
            None
        };
        let mut model = CheckModel::new(self.instance(), monitor);
        let group = if sym { model.with_symmetry() } else { 1 };
        let limits = Limits {
            engine: Engine::Dfs {
                sleep_sets,
                seed: None,
            },
            max_states: Some(1_000_000),
            count_orbits,
            ..Limits::default()
        };
        (group, run::check(model, &limits, &mut |_| {}))
    }
}

fn properties(r: &Report) -> Vec<&'static str> {
    let mut v: Vec<_> = r.violations.iter().map(|f| f.property).collect();
    v.sort();
    v
}

fn small() -> Options {
    Options {
        ballots: 1,
        values: 1,
        fake_1b: Fake1b::None,
        ..Options::default()
    }
}

/// Full search, full search counting orbits, reduced search: same verdict;
/// on complete runs the reduced search's states are the full search's
/// orbits, fewer than its states.
#[test]
fn reduced_search_visits_one_state_per_orbit_and_keeps_every_verdict() {
    let cases = [
        Case {
            what: "classic, a4 fake, 1 ballot, 1 value (group of 6)",
            file: "classic.toml",
            fake: &["a4"],
            restart: &[],
            opts: small(),
            refinement: false,
        },
        Case {
            what: "classic, a4 fake, 1 ballot, 1 value, refinement",
            file: "classic.toml",
            fake: &["a4"],
            restart: &[],
            opts: small(),
            refinement: true,
        },
        Case {
            what: "invalid-three, a3 fake, 1 ballot, 1 value (group of 2)",
            file: "invalid-three.toml",
            fake: &["a3"],
            restart: &[],
            opts: small(),
            refinement: false,
        },
        Case {
            what: "sym-pair, a1 and a2 restart, refinement (group of 2)",
            file: "sym-pair.toml",
            fake: &[],
            restart: &["a1", "a2"],
            opts: small(),
            refinement: true,
        },
        Case {
            what: "sym-pair, 2 ballots, x and y, refinement",
            file: "sym-pair.toml",
            fake: &[],
            restart: &[],
            opts: Options::default(),
            refinement: true,
        },
        Case {
            what: "invalid-three, a3 fake, any 1c (must fail)",
            file: "invalid-three.toml",
            fake: &["a3"],
            restart: &[],
            opts: Options {
                ballots: 1,
                any_1c: true,
                ..Options::default()
            },
            refinement: false,
        },
    ];
    for c in &cases {
        let (_, plain) = c.run(false, false, true);
        let (group, full) = c.run(true, true, true);
        let (_, reduced) = c.run(true, false, true);
        // Symmetry alone, and neither reduction.
        let (_, reduced_only) = c.run(true, false, false);
        let (_, neither) = c.run(false, false, false);
        println!(
            "{}: group {group}; {} states ({} orbits) without symmetry, {} with; \
             transitions: neither {}, sleep sets {}, symmetry {}, both {}; \
             violations {:?} / {:?}",
            c.what,
            plain.states,
            full.orbits.unwrap_or(0),
            reduced.states,
            neither.generated,
            plain.generated,
            reduced_only.generated,
            reduced.generated,
            properties(&plain),
            properties(&reduced)
        );
        assert!(group > 1, "{}: a symmetric instance", c.what);
        for r in [&full, &reduced, &reduced_only, &neither] {
            assert_eq!(properties(&plain), properties(r), "{}", c.what);
        }
        assert!(reduced.sleep_sets && !reduced_only.sleep_sets, "{}", c.what);
        if plain.violations.iter().all(|v| v.property == "decided") {
            for r in [&plain, &full, &reduced, &reduced_only, &neither] {
                assert!(r.complete, "{}", c.what);
            }
            // Keeping histories changes nothing in the full search, and
            // sleep sets prune transitions, never states.
            assert_eq!(plain.states, full.states, "{}", c.what);
            assert_eq!(plain.states, neither.states, "{}", c.what);
            assert_eq!(full.orbits, Some(reduced.states), "{}", c.what);
            assert_eq!(reduced_only.states, reduced.states, "{}", c.what);
            assert!(reduced.states < plain.states, "{}: it reduces", c.what);
            // Sleep sets on top of symmetry still cut transitions.
            assert!(
                reduced.generated < reduced_only.generated,
                "{}: sleep sets prune",
                c.what
            );
        }
    }
}

/// The group of every CI instance of `.ci/run` (and of the mutants'
/// instances, which are among them): the identity except on the symmetric
/// files, so there `--symmetry on` is the unreduced search.
#[test]
fn ci_instances_have_the_expected_groups() {
    let g = |file: &str, fake: &[&str], restart: &[&str]| -> usize {
        let t = trust(file);
        let opts = Options {
            fake: ids(&t, fake),
            restart: ids(&t, restart),
            ..Options::default()
        };
        let inst = Instance::new(t, opts).expect("instance");
        hpaxos_check::symmetry::group_size(&inst)
    };
    assert_eq!(g("one-safe.toml", &["a2"], &[]), 1);
    assert_eq!(g("one-safe.toml", &["a2"], &["a1"]), 1);
    assert_eq!(g("two-safe.toml", &["a3"], &[]), 1, "a1 is in every quorum");
    assert_eq!(g("one-safe-pair.toml", &["a2"], &[]), 1);
    assert_eq!(g("pair-split.toml", &["a2"], &[]), 1);
    assert_eq!(g("fake-quorum.toml", &["a2"], &[]), 1);
    assert_eq!(g("self-split.toml", &["a2"], &["a1"]), 1);
    assert_eq!(g("self-solo.toml", &["a2"], &["a1"]), 1);
    assert_eq!(
        g("invalid-pair.toml", &[], &[]),
        1,
        "alice's a1 is not bob's"
    );
    assert_eq!(g("mc-hpaxos.toml", &["a3"], &[]), 1);
    assert_eq!(g("invalid-three.toml", &["a3"], &[]), 2);
    assert_eq!(g("classic.toml", &["a4"], &[]), 6);
    assert_eq!(g("sym-pair.toml", &[], &["a1", "a2"]), 2);
    assert_eq!(g("sym-pair.toml", &[], &["a1"]), 1, "a1 restarts, a2 not");
    assert_eq!(g("classic.toml", &["a4"], &["a1"]), 2, "a1's role is fixed");
    // a2 fake: ties may be broken by acceptor order, so only acceptors on
    // the same side of a2 are swapped (a3 and a4, not a1: a conservative
    // subgroup).
    assert_eq!(g("classic.toml", &["a2"], &[]), 2);
}

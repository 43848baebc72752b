//! The dead-message reduction is exact (`hpaxos_check::dead`, issue 12:
//! "collapsing states that differ only in messages no guard can ever read
//! again"). Its premise is that states with equal keys (equal but for
//! index entries below `maxBal` and receipts that only added them) are
//! bisimilar; the consequence checked here, on every small instance with
//! two ballots where entries die (and on one-ballot and symmetric ones for
//! the composition): the reduced search visits exactly as many states as
//! there are key classes among the full search's states (counted by a full
//! search, `DfsOptions::count_orbits`), and the verdict and violated
//! properties (`safety`: entangled learners agree, `Safety` of the spec;
//! `decided`; `refinement`: every step a spec step) are those of the full
//! search. With the late steps nothing is pruned (`Acceptor::prunable`).

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
    /// Also compare with symmetry on (a symmetric instance).
    sym: bool,
    /// The reduction must merge states here (complete runs).
    reduces: bool,
}

/// How one run explores.
#[derive(Clone, Copy)]
struct Mode {
    dead: bool,
    sym: bool,
    count: bool,
    sleep_sets: bool,
}

impl Case {
    fn run(&self, m: Mode) -> Report {
        let t = trust(self.file);
        let opts = Options {
            fake: ids(&t, self.fake),
            restart: ids(&t, self.restart),
            ..self.opts.clone()
        };
        let inst = Instance::new(t, opts).expect("instance");
        let monitor: Option<Arc<dyn MonitorFactory>> = if self.refinement {
            Some(Arc::new(RefinementCheck))
        } else {
            None
        };
        let mut model = CheckModel::new(inst, monitor);
        if m.sym {
            assert!(
                model.with_symmetry() > 1,
                "{}: a symmetric instance",
                self.what
            );
        }
        model.dead = m.dead;
        let limits = Limits {
            engine: Engine::Dfs {
                sleep_sets: m.sleep_sets,
                seed: None,
            },
            max_states: Some(2_000_000),
            count_orbits: m.count,
            ..Limits::default()
        };
        run::check(model, &limits, &mut |_| {})
    }
}

/// The options of `hpaxos check` with no flags (fake 1b empty).
fn cli() -> Options {
    Options {
        fake_1b: Fake1b::Empty,
        ..Options::default()
    }
}

fn properties(r: &Report) -> Vec<&'static str> {
    let mut v: Vec<_> = r.violations.iter().map(|f| f.property).collect();
    v.sort();
    v
}

const PLAIN: Mode = Mode {
    dead: false,
    sym: false,
    count: false,
    sleep_sets: true,
};

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "one-safe, a2 fake, any 1c, refinement (the first CI line)",
            file: "one-safe.toml",
            fake: &["a2"],
            restart: &[],
            opts: Options {
                any_1c: true,
                ..cli()
            },
            refinement: true,
            sym: false,
            reduces: false,
        },
        Case {
            what: "one-safe, a2 fake, any 1c, safety only",
            file: "one-safe.toml",
            fake: &["a2"],
            restart: &[],
            opts: Options {
                any_1c: true,
                ..cli()
            },
            refinement: false,
            sym: false,
            reduces: true,
        },
        Case {
            what: "one-safe, a2 fake, a1 restarts, safety only (a CI line)",
            file: "one-safe.toml",
            fake: &["a2"],
            restart: &["a1"],
            opts: cli(),
            refinement: false,
            sym: false,
            reduces: true,
        },
        Case {
            what: "one-safe, a2 fake, a1 restarts, 1 ballot, refinement",
            file: "one-safe.toml",
            fake: &["a2"],
            restart: &["a1"],
            opts: Options {
                ballots: 1,
                ..cli()
            },
            refinement: true,
            sym: false,
            reduces: false,
        },
        Case {
            what: "two-safe, a3 fake, 1 value, 1 proposer, fake 1b none, refinement",
            file: "two-safe.toml",
            fake: &["a3"],
            restart: &[],
            opts: Options {
                values: 1,
                proposers: Some(1),
                fake_1b: Fake1b::None,
                ..cli()
            },
            refinement: true,
            sym: false,
            reduces: false,
        },
        Case {
            what: "one-safe, a2 fake, 1 value, fake 1b one, 1 proposer, refinement",
            file: "one-safe.toml",
            fake: &["a2"],
            restart: &[],
            opts: Options {
                values: 1,
                proposers: Some(1),
                fake_1b: Fake1b::One,
                ..cli()
            },
            refinement: true,
            sym: false,
            reduces: false,
        },
        Case {
            what: "sym-pair, 2 ballots, 2 values, refinement (group of 2)",
            file: "sym-pair.toml",
            fake: &[],
            restart: &[],
            opts: cli(),
            refinement: true,
            sym: true,
            reduces: false,
        },
        Case {
            what: "classic, a4 fake, 1 ballot, 1 value, fake 1b none (group of 6)",
            file: "classic.toml",
            fake: &["a4"],
            restart: &[],
            opts: Options {
                ballots: 1,
                values: 1,
                fake_1b: Fake1b::None,
                ..cli()
            },
            refinement: false,
            sym: true,
            reduces: false,
        },
        Case {
            what: "invalid-three, a3 fake, 1 ballot, any 1c (must fail)",
            file: "invalid-three.toml",
            fake: &["a3"],
            restart: &[],
            opts: Options {
                ballots: 1,
                any_1c: true,
                ..cli()
            },
            refinement: false,
            sym: true,
            reduces: false,
        },
        Case {
            what: "one-safe, a2 fake, late steps, any 1c, refinement (nothing pruned)",
            file: "one-safe.toml",
            fake: &["a2"],
            restart: &[],
            opts: Options {
                any_1c: true,
                late: true,
                ..cli()
            },
            refinement: true,
            sym: false,
            reduces: false,
        },
    ]
}

/// Full search, full search counting key classes, reduced search (with and
/// without sleep sets, with and without symmetry): the same verdict; on
/// complete runs the reduced search's states are the full search's classes.
#[test]
fn dead_reduction_visits_one_state_per_class_and_keeps_every_verdict() {
    for c in &cases() {
        let plain = c.run(PLAIN);
        let classes = c.run(Mode {
            dead: true,
            count: true,
            ..PLAIN
        });
        let reduced = c.run(Mode {
            dead: true,
            ..PLAIN
        });
        let no_sleep = c.run(Mode {
            dead: true,
            sleep_sets: false,
            ..PLAIN
        });
        println!(
            "{}: {} states, {:?} classes, {} with the reduction ({} without sleep sets); \
             transitions {} / {}; violations {:?} / {:?}",
            c.what,
            plain.states,
            classes.orbits,
            reduced.states,
            no_sleep.states,
            plain.generated,
            reduced.generated,
            properties(&plain),
            properties(&reduced)
        );
        assert!(reduced.dead && !plain.dead, "{}", c.what);
        for r in [&classes, &reduced, &no_sleep] {
            assert_eq!(properties(&plain), properties(r), "{}", c.what);
        }
        let clean = plain.violations.iter().all(|v| v.property == "decided");
        if clean {
            for r in [&plain, &classes, &reduced, &no_sleep] {
                assert!(r.complete, "{}: complete", c.what);
            }
            assert_eq!(plain.states, classes.states, "{}", c.what);
            assert_eq!(classes.orbits, Some(reduced.states), "{}", c.what);
            assert_eq!(no_sleep.states, reduced.states, "{}", c.what);
            if c.reduces {
                assert!(reduced.states < plain.states, "{}: it reduces", c.what);
            }
            if c.opts.late {
                assert_eq!(
                    reduced.states, plain.states,
                    "{}: late: nothing pruned",
                    c.what
                );
            }
        }
        if c.sym {
            let sym_classes = c.run(Mode {
                dead: true,
                sym: true,
                count: true,
                sleep_sets: true,
            });
            let both = c.run(Mode {
                dead: true,
                sym: true,
                count: false,
                sleep_sets: true,
            });
            println!(
                "  with symmetry: {:?} orbits of classes, {} states with both; violations {:?}",
                sym_classes.orbits,
                both.states,
                properties(&both)
            );
            for r in [&sym_classes, &both] {
                assert_eq!(properties(&plain), properties(r), "{}", c.what);
            }
            if clean {
                assert!(both.complete, "{}: complete", c.what);
                assert_eq!(sym_classes.orbits, Some(both.states), "{}", c.what);
            }
        }
    }
}

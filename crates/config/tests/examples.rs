//! The shipped examples and the scale configuration through the library:
//! load, validate, and check each counterexample against the definitions
//! (closure family, quorums, empty triple intersection).

use hpaxos_config::load_file;
use hpaxos_config::scale::{scale_config, Variant};
use hpaxos_core::graph::{validity::is_genuine, GraphError};
use std::path::PathBuf;

fn example(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "..", "..", "examples", name]
        .iter()
        .collect()
}

#[test]
fn valid_examples_validate() {
    for name in ["classic.toml", "mixed.toml", "two-orgs.toml"] {
        let cfg = load_file(example(name)).unwrap();
        assert!(cfg.validate().is_ok(), "{name}");
    }
}

#[test]
fn invalid_example_has_one_genuine_violation_for_bob_with_himself() {
    let cfg = load_file(example("invalid.toml")).unwrap();
    let Err(GraphError::Invalid(vs)) = cfg.validate() else {
        panic!("invalid.toml must be invalid");
    };
    assert_eq!(vs.len(), 1);
    let bob = cfg.learner_id("bob").unwrap();
    assert_eq!(vs[0].learners, (bob, bob));
    assert!(is_genuine(&cfg.graph, &vs[0]));
}

/// The benchmark's configurations (100 acceptors, 10 organisations, 10
/// learners, 55 safety edges): the valid ones validate, the weakened one
/// yields genuine counterexamples, all involving the weakened learner l9.
#[test]
fn scale_configurations_check_exactly() {
    for v in [Variant::Uniform, Variant::Windows] {
        let cfg = hpaxos_config::parse_str(&scale_config(v)).unwrap();
        assert_eq!(cfg.graph.acceptors.len(), 100);
        assert_eq!(cfg.graph.edges.len(), 55);
        assert!(cfg.validate().is_ok(), "{v:?}");
    }
    let cfg = hpaxos_config::parse_str(&scale_config(Variant::Weak)).unwrap();
    let Err(GraphError::Invalid(vs)) = cfg.validate() else {
        panic!("the weak variant must be invalid");
    };
    let l9 = cfg.learner_id("l9").unwrap();
    assert!(!vs.is_empty());
    for v in &vs {
        assert!(is_genuine(&cfg.graph, v), "{v:?}");
        assert!(v.learners.0 == l9 || v.learners.1 == l9, "{v:?}");
    }
}

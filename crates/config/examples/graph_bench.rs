//! Scale benchmark of the learner-graph check (issue 2, item 4): generates
//! the 100-acceptor / 10-organisation / 10-learner configuration with a
//! safety edge between every pair, then times parsing and exact validation.
//! Run: `cargo run --release -p hpaxos-config --example graph_bench`.

use hpaxos_config::parse_str;
use hpaxos_config::scale::{scale_config, Variant};
use hpaxos_core::graph::{validate, validity, GraphError};
use std::time::Instant;

fn main() {
    for variant in Variant::ALL {
        let text = scale_config(variant);
        let t0 = Instant::now();
        let cfg = match parse_str(&text) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("generated configuration does not parse: {e}");
                std::process::exit(2);
            }
        };
        let parse = t0.elapsed();
        let t1 = Instant::now();
        let result = validate(cfg.graph.clone());
        let check = t1.elapsed();
        // The same check without the counting lemmas (plain SAT encoding).
        let t2 = Instant::now();
        let plain = validity::violations_with(&cfg.graph, false);
        let plain_time = t2.elapsed();
        let same = match &result {
            Ok(_) => plain.is_empty(),
            Err(GraphError::Invalid(v)) => v.len() == plain.len(),
            Err(_) => false,
        };
        let verdict = match &result {
            Ok(_) => "valid".to_string(),
            Err(GraphError::Invalid(v)) => format!("invalid, {} violating pair(s)", v.len()),
            Err(e) => format!("error: {e}"),
        };
        println!(
            "{:<8} acceptors {:>3}  learners {:>2}  safety edges {:>2}  parse {:>7.2} ms  check {:>8.2} ms  {}  (without counting lemmas: {:.2} ms, {})",
            variant.name(),
            cfg.graph.acceptors.len(),
            cfg.graph.learners.len(),
            cfg.graph.edges.len(),
            parse.as_secs_f64() * 1e3,
            check.as_secs_f64() * 1e3,
            verdict,
            plain_time.as_secs_f64() * 1e3,
            if same { "same answer" } else { "DIFFERENT ANSWER" }
        );
    }
}

//! `hpaxos-spec-explore`: breadth-first exploration of a finite instance of
//! the reference model (the instance of `spec/MCHPaxos.cfg` by default),
//! checking `FullSafetyInvariant` on every state; prints the number of
//! distinct states and the rate.
//!
//! Usage: `hpaxos-spec-explore [--max-msgs N] [--max-ballot B] [--recv KINDS]
//!         [--edge-core a1,a3] [--any-proposer] [--no-invariants] [--json]`

use clap::Parser;
use hpaxos_spec::explore::Explorer;
use hpaxos_spec::instances::McParams;
use std::process::ExitCode;

/// Breadth-first exploration of the reference model on a finite instance
/// (`spec/MCHPaxos.cfg`'s by default), `FullSafetyInvariant` on every state.
#[derive(Parser, Debug)]
#[command(name = "hpaxos-spec-explore", version)]
struct Args {
    /// TLC's `MaxMsgs`: at most this many messages in `msgs`.
    #[arg(long, value_name = "N")]
    max_msgs: Option<usize>,
    /// The highest ballot.
    #[arg(long, value_name = "B")]
    max_ballot: Option<u64>,
    /// Message kinds acceptors receive, comma-separated (1a,1b,1c,2av,2b).
    #[arg(long, value_name = "KINDS", value_delimiter = ',')]
    recv: Option<Vec<String>>,
    /// The core of the (L2, L2) edge, comma-separated among a1..a3.
    #[arg(long, value_name = "ACCEPTORS", value_delimiter = ',')]
    edge_core: Option<Vec<String>>,
    /// Proposers may announce any value (not only the instance's domain).
    #[arg(long)]
    any_proposer: bool,
    /// Explore without checking invariants.
    #[arg(long)]
    no_invariants: bool,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let a = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let mut p = McParams::ci();
    if let Some(n) = a.max_msgs {
        p.max_msgs = n;
    }
    if let Some(b) = a.max_ballot {
        p.max_ballot = b;
    }
    if let Some(kinds) = &a.recv {
        for k in kinds {
            if !["1a", "1b", "1c", "2av", "2b"].contains(&k.as_str()) {
                eprintln!("--recv: unknown message kind {k:?} (1a, 1b, 1c, 2av, 2b)");
                return ExitCode::from(2);
            }
        }
        p.recv_kinds = ["1a", "1b", "1c", "2av", "2b"]
            .into_iter()
            .filter(|k| kinds.iter().any(|x| x == k))
            .collect();
    }
    if a.any_proposer {
        p.proposer_domain = None;
    }
    if let Some(accs) = &a.edge_core {
        let mut core = Vec::new();
        for acc in accs {
            match acc.strip_prefix('a').and_then(|i| i.parse::<u16>().ok()) {
                Some(i) if (1..=3).contains(&i) => core.push(hpaxos_core::AcceptorId(i - 1)),
                _ => {
                    eprintln!("--edge-core: {acc:?} is not one of a1, a2, a3");
                    return ExitCode::from(2);
                }
            }
        }
        p.edge_core = core.into_iter().collect();
    }
    let invariants = !a.no_invariants;
    let json = a.json;
    let (model, constraint) = p.build();
    let mut ex = Explorer::new(model, constraint);
    if !invariants {
        ex.invariants.clear();
    }
    let s = ex.run(true);
    if json {
        let out = serde_json::json!({
            "distinct": s.distinct,
            "generated": s.generated,
            "depth": s.depth,
            "seconds": (s.seconds * 1000.0).round() / 1000.0,
            "states_per_second": s.states_per_second().round(),
            "violation": s.violation.as_ref().map(|(v, _)| v.to_string()),
        });
        println!("{out}");
    } else {
        println!("distinct states   {}", s.distinct);
        println!("states generated  {}", s.generated);
        println!("depth             {}", s.depth);
        println!("seconds           {:.2}", s.seconds);
        println!("states/second     {:.0}", s.states_per_second());
        match &s.violation {
            None => println!("invariants        ok"),
            Some((v, trace)) => {
                println!("violation         {v}");
                for (i, t) in trace.iter().enumerate() {
                    println!("  {:>3}. {t}", i + 1);
                }
            }
        }
    }
    if s.violation.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

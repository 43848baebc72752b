//! `hpaxos-spec-explore`: breadth-first exploration of a finite instance of
//! the reference model (the instance of `spec/MCHPaxos.cfg` by default),
//! checking `FullSafetyInvariant` on every state; prints the number of
//! distinct states and the rate.
//!
//! Usage: `hpaxos-spec-explore [--max-msgs N] [--max-ballot B] [--recv KINDS]
//!         [--edge-core a1,a3] [--any-proposer] [--no-invariants] [--json]`

use hpaxos_spec::explore::Explorer;
use hpaxos_spec::instances::McParams;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut p = McParams::ci();
    let mut invariants = true;
    let mut json = false;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |what: &str| -> Option<u64> {
            let v = it.next().and_then(|s| s.parse().ok());
            if v.is_none() {
                eprintln!("{what} needs a number");
            }
            v
        };
        match a.as_str() {
            "--max-msgs" => match num("--max-msgs") {
                Some(n) => p.max_msgs = n as usize,
                None => return ExitCode::from(2),
            },
            "--max-ballot" => match num("--max-ballot") {
                Some(n) => p.max_ballot = n,
                None => return ExitCode::from(2),
            },
            "--recv" => {
                let kinds = it.next().cloned().unwrap_or_default();
                p.recv_kinds = ["1a", "1b", "1c", "2av", "2b"]
                    .into_iter()
                    .filter(|k| kinds.split(',').any(|x| x == *k))
                    .collect();
            }
            "--any-proposer" => p.proposer_domain = None,
            "--edge-core" => {
                let accs = it.next().cloned().unwrap_or_default();
                p.edge_core = accs
                    .split(',')
                    .filter_map(|a| a.strip_prefix('a')?.parse::<u16>().ok())
                    .filter(|i| (1..=3).contains(i))
                    .map(|i| hpaxos_core::AcceptorId(i - 1))
                    .collect();
            }
            "--no-invariants" => invariants = false,
            "--json" => json = true,
            other => {
                eprintln!("unknown argument {other}");
                return ExitCode::from(2);
            }
        }
    }
    let (model, constraint) = p.build();
    let mut ex = Explorer::new(model, constraint);
    if !invariants {
        ex.invariants.clear();
    }
    let s = ex.run(true);
    if json {
        println!(
            "{{\"distinct\":{},\"generated\":{},\"depth\":{},\"seconds\":{:.3},\"states_per_second\":{:.0},\"violation\":{}}}",
            s.distinct,
            s.generated,
            s.depth,
            s.seconds,
            s.states_per_second(),
            s.violation
                .as_ref()
                .map(|(v, _)| format!("\"{}\"", v.to_string().replace('"', "'")))
                .unwrap_or_else(|| "null".into())
        );
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

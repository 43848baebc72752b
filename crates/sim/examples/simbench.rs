//! Simulator throughput: runs seeds of a configuration with the refinement
//! check off and prints simulated messages (deliveries) per second of wall
//! time on one core. Usage:
//! `cargo run --release -p hpaxos-sim --example simbench -- FILE [SEEDS]`

use hpaxos_sim::{Sim, SimParams, Summary};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let file = args.next().ok_or("usage: simbench FILE [SEEDS]")?;
    let seeds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);
    let cfg = hpaxos_config::load_file(&file)?;
    let trust = match cfg.validate() {
        Ok(t) => t,
        Err(_) => hpaxos_core::Trust::unchecked(cfg.graph.clone())?,
    };
    let sim = Sim::new(trust.clone(), SimParams::default());
    let mut sum = Summary::default();
    let t = Instant::now();
    for seed in 0..seeds {
        sum.add(&sim.run_seed(seed)?);
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds().unwrap_or(secs);
    println!("{file}: {seeds} seeds in {secs:.2} s wall, {cpu:.2} s CPU (one thread)");
    println!(
        "  per CPU second: {:.0} msgs delivered/s, {:.0} packets sent/s",
        sum.totals.delivered as f64 / cpu,
        sum.totals.sent as f64 / cpu
    );
    println!(
        "  delivered {} msgs: {:.0} msgs/s; sent {} packets: {:.0}/s; {:.1} seeds/s",
        sum.totals.delivered,
        sum.totals.delivered as f64 / secs,
        sum.totals.sent,
        sum.totals.sent as f64 / secs,
        seeds as f64 / secs
    );
    print!("{}", sum.table(&trust, secs));
    Ok(())
}

/// User + system CPU time of this process, from /proc (Linux), so the
/// figure means "per core" even on a loaded machine.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

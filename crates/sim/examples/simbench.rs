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
    println!("{file}: {seeds} seeds in {secs:.2} s (one thread)");
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

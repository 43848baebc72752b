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
    // SIM_REFINE=1: refinement check and spec invariants on every seed
    // (every 64 actions and at the end); SIM_START: first seed.
    let refine = std::env::var("SIM_REFINE").is_ok_and(|v| v == "1");
    let start: u64 = std::env::var("SIM_START")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SIM_UNSAFE=1: the deliberately broken send-before-persist driver.
    let mut params = SimParams {
        unsafe_send_before_persist: std::env::var("SIM_UNSAFE").is_ok_and(|v| v == "1"),
        ..SimParams::default()
    };
    if refine {
        params.refine = hpaxos_sim::RefineChoice::On;
    }
    let mut sim = Sim::new(trust.clone(), params);
    if refine {
        sim.refiner = Some(hpaxos_sim::refine::spec_refiner(64));
    }
    let mut sum = Summary::default();
    let t = Instant::now();
    for seed in start..start + seeds {
        let r = sim.run_seed(seed)?;
        if let Some(f) = &r.failure {
            println!("{f}");
        }
        sum.add(&r);
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

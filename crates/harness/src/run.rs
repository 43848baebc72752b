//! One harness run from start to verdict: cluster up, workload and nemesis
//! side by side, heal, final reads, checks, files. Every phase is bounded in
//! time; `main` removes the containers afterwards, whatever this returns.

use crate::checks;
use crate::cluster::{Cluster, ClusterSpec};
use crate::docker::Docker;
use crate::history::{Kind, OpRecord, Outcome};
use crate::lincheck;
use crate::nemesis;
use crate::report::{self, Verdict};
use crate::sampler;
use crate::workload::{self, Ctx};
use crate::Args;
use anyhow::{bail, Context};
use hpaxos_core::AccSet;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Seconds before the first fault (load only).
const WARMUP_MS: u64 = 5000;
/// Check 5: time a fault window gets for the failover (leader timeout,
/// view change, takeover of its slots) before its learners are judged.
const FAILOVER_GRACE_MS: u64 = 2500;
/// Check 5: shorter judged intervals are reported, not judged.
const MIN_JUDGED_MS: u64 = 1000;

/// Returns the exit code (0 pass, 1 violation, 3 inconclusive).
pub async fn run(d: &Docker, args: &Args, run: &str) -> anyhow::Result<u8> {
    let (fault_secs, byzantine) = match args.schedule.as_str() {
        "ci" => (45, None),
        "long" => (300, None),
        "byzantine" => (45, Some(args.nodes.saturating_sub(1))),
        other => bail!("unknown --schedule {other:?} (ci, long, byzantine)"),
    };
    let fault_secs = args.fault_secs.unwrap_or(fault_secs);
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .map(|mut r| r.next().is_some())
            .unwrap_or(true)
    {
        bail!("--out {} exists and is not empty", args.out.display());
    }
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    d.run(&["image", "inspect", "-f", "{{.Id}}", &args.image])
        .await
        .with_context(|| format!("no image {} (build it with scripts/image.sh)", args.image))?;

    eprintln!(
        "hpaxos-harness: run {run}, schedule {} seed {}",
        args.schedule, args.seed
    );
    let spec = ClusterSpec {
        run,
        nodes: args.nodes,
        image: &args.image,
        byzantine,
        dir: &args.out,
        set: &args.set,
    };
    let t_setup = Instant::now();
    let c = Cluster::start(d, &spec, args.seed).await?;
    eprintln!(
        "  {} nodes healthy after {:.1} s{}",
        c.nodes.len(),
        t_setup.elapsed().as_secs_f64(),
        c.nodes
            .iter()
            .find(|n| n.byzantine)
            .map(|n| format!("; {} runs --byzantine equivocate", n.name))
            .unwrap_or_default()
    );
    let names: Vec<String> = c.nodes.iter().map(|n| n.name.clone()).collect();
    let schedule = nemesis::plan(
        &args.schedule,
        args.seed,
        &names,
        c.nodes.iter().find(|n| n.byzantine).map(|n| n.name.clone()),
        WARMUP_MS,
        fault_secs,
    );
    report::write_json(&args.out.join("schedule.json"), &schedule)?;

    let learners: Vec<String> = (0..c.config.trust.n_learners())
        .map(|i| {
            c.config
                .trust
                .learner_name(hpaxos_core::LearnerId(i as u16))
                .to_string()
        })
        .collect();
    let targets = learners
        .iter()
        .map(|l| {
            let ns = c
                .nodes
                .iter()
                .filter(|n| !n.byzantine && n.learners.contains(l))
                .map(|n| (n.name.clone(), n.http))
                .collect();
            (l.clone(), ns)
        })
        .collect();
    let t0 = Instant::now();
    let load_ms = schedule.heal_ms + args.recovery_bound * 1000;
    let ctx = Arc::new(Ctx {
        t0,
        deadline: t0 + Duration::from_millis(load_ms),
        targets,
        keys_per_learner: args.keys,
        op_timeout: Duration::from_secs_f64(args.op_timeout.clamp(0.2, 600.0)),
        avoid: Duration::from_secs_f64(args.avoid_secs.clamp(0.0, 600.0)),
        max_ops: 200_000,
        next_process: AtomicU64::new(1),
    });
    let mut tasks = Vec::new();
    for li in 0..learners.len() {
        for ci in 0..args.clients {
            tasks.push(tokio::spawn(workload::client(
                ctx.clone(),
                li,
                ci,
                args.seed,
            )));
        }
    }
    eprintln!(
        "  workload: {} clients for {:.0} s; faults from {:.0} s to {:.1} s ({} windows)",
        tasks.len(),
        load_ms as f64 / 1000.0,
        WARMUP_MS as f64 / 1000.0,
        schedule.heal_ms as f64 / 1000.0,
        schedule.windows.len()
    );
    let sampler = tokio::spawn(sampler::sample(
        c.nodes.clone(),
        t0,
        ctx.deadline,
        args.out.join("status.jsonl"),
    ));
    let mut applied = nemesis::execute(d, &c, &schedule, t0).await;
    applied.extend(nemesis::heal_all(d, &c, t0).await);
    let heal_ms = t0.elapsed().as_secs_f64() * 1000.0;
    eprintln!("  healed at {:.1} s", heal_ms / 1000.0);
    report::write_jsonl(&args.out.join("nemesis.jsonl"), &applied)?;

    let mut history: Vec<OpRecord> = Vec::new();
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(args.recovery_bound + 60), t).await {
            Ok(Ok(h)) => history.extend(h),
            Ok(Err(e)) => bail!("a client task failed: {e}"),
            Err(_) => bail!("a client did not stop after its deadline"),
        }
    }
    let load_end_ms = t0.elapsed().as_secs_f64() * 1000.0;
    match sampler.await {
        Ok(Ok(n)) => eprintln!("  {n} status samples in status.jsonl"),
        Ok(Err(e)) => eprintln!("  (status sampling stopped: {e})"),
        Err(e) => eprintln!("  (status sampler failed: {e})"),
    }

    let conv = checks::converge(&c, Duration::from_secs(30)).await;
    history.extend(final_reads(&ctx, &learners, args.keys).await);
    history.sort_by(|a, b| a.invoke_ms.total_cmp(&b.invoke_ms));
    report::write_jsonl(&args.out.join("history.jsonl"), &history)?;
    let logs = checks::fetch_logs(&c).await;
    let _ = c.save_logs(d, &args.out).await;

    let faulty: AccSet = c
        .nodes
        .iter()
        .zip(&c.config.nodes)
        .filter(|(n, _)| n.byzantine)
        .filter_map(|(_, s)| s.acceptor)
        .collect();
    let pairs = checks::entangled_pairs(&c, &faulty);
    let live = checks::live_learners(&c, &faulty);
    let self_entangled: Vec<String> = pairs
        .iter()
        .filter(|(a, b)| a == b)
        .map(|(a, _)| a.clone())
        .collect();
    let required: Vec<String> = live
        .iter()
        .filter(|l| self_entangled.contains(l))
        .cloned()
        .collect();
    eprintln!(
        "  checking {} operations (linearizability: stateright)",
        history.len()
    );
    let lin = lincheck::check_all(&history, Duration::from_secs(args.check_budget));
    let v = Verdict {
        run: run.to_string(),
        schedule: args.schedule.clone(),
        seed: args.seed,
        byzantine: schedule.byzantine.clone(),
        heal_ms,
        load_end_ms,
        recovery_bound_s: args.recovery_bound,
        convergence: conv,
        lost: checks::lost_writes(&history, &logs),
        agreement: checks::agreement(&pairs, &logs),
        entangled: pairs,
        live,
        required,
        recovery: Vec::new(),
        during_faults: Vec::new(),
        linearizability: lin,
        counts: report::counts(&history, &learners),
        replay: format!(
            "hpaxos-harness --schedule {} --seed {} --nodes {} --clients {} --keys {}{} --out DIR",
            args.schedule,
            args.seed,
            args.nodes,
            args.clients,
            args.keys,
            args.set
                .iter()
                .map(|kv| format!(" --set {kv}"))
                .collect::<String>()
        ),
    };
    let mut v = v;
    v.recovery = checks::recovery(
        &history,
        &learners,
        &v.required,
        heal_ms,
        Duration::from_secs(args.recovery_bound),
    );
    let actual = nemesis::actual(&schedule, &applied, heal_ms);
    v.during_faults = checks::live_during_faults(
        &c,
        &history,
        &actual.windows,
        Duration::from_millis(FAILOVER_GRACE_MS),
        Duration::from_millis(MIN_JUDGED_MS),
    );
    if let Err(e) = crate::plot::draw(
        &args.out.join("timeline.svg"),
        &history,
        &actual,
        load_end_ms / 1000.0,
    ) {
        eprintln!("  (no plot: {e})");
    }
    report::finish(&args.out, &v)
}

/// After the heal: one linearizable read (through the log) per learner and
/// key, retried (as new processes) up to 5 times, 10 s each.
async fn final_reads(ctx: &Ctx, learners: &[String], keys: usize) -> Vec<OpRecord> {
    let mut out = Vec::new();
    for (li, l) in learners.iter().enumerate() {
        let nodes = &ctx.targets[li].1;
        for k in 0..keys {
            let key = format!("{l}-k{k}");
            for attempt in 0..5 {
                let Some(node) = nodes.get((k + attempt) % nodes.len().max(1)) else {
                    break;
                };
                let p = ctx.new_process();
                let r = workload::one_op(
                    ctx,
                    p,
                    l,
                    node,
                    Kind::Get,
                    &key,
                    None,
                    Duration::from_secs(10),
                )
                .await;
                let ok = r.outcome == Outcome::Ok;
                out.push(r);
                if ok {
                    break;
                }
            }
        }
    }
    out
}

//! The verdict of a run: what every check found, as `verdict.json`, and a
//! short human summary (`summary.txt`, also printed). Decides the exit code.

use crate::checks::{Convergence, Lost, PairAgreement, Recovery, WindowLiveness};
use crate::history::{OpRecord, Outcome};
use crate::lincheck::{KeyVerdict, Verdict as Lin};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

pub use crate::run::run;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub attempted: usize,
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
    pub acknowledged_writes: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub run: String,
    pub schedule: String,
    pub seed: u64,
    pub byzantine: Option<String>,
    pub heal_ms: f64,
    pub load_end_ms: f64,
    pub recovery_bound_s: u64,
    pub convergence: Convergence,
    pub lost: Vec<Lost>,
    pub agreement: Vec<PairAgreement>,
    /// Learner pairs entangled with the Byzantine node's acceptor faulty.
    pub entangled: Vec<(String, String)>,
    pub live: Vec<String>,
    /// Learners whose safety and progress are required (live, self-entangled).
    pub required: Vec<String>,
    pub recovery: Vec<Recovery>,
    /// Check 5: per fault window, the acknowledgements of each learner
    /// required to progress with the window's acceptors faulty.
    pub during_faults: Vec<WindowLiveness>,
    pub linearizability: Vec<KeyVerdict>,
    pub counts: BTreeMap<String, Counts>,
    pub replay: String,
}

pub fn counts(h: &[OpRecord], learners: &[String]) -> BTreeMap<String, Counts> {
    let mut m: BTreeMap<String, Counts> = learners
        .iter()
        .map(|l| (l.clone(), Counts::default()))
        .collect();
    for o in h {
        let c = m.entry(o.learner.clone()).or_default();
        c.attempted += 1;
        match o.outcome {
            Outcome::Ok => {
                c.ok += 1;
                if o.is_write() {
                    c.acknowledged_writes += 1;
                }
            }
            Outcome::Fail => c.fail += 1,
            Outcome::Info => c.info += 1,
        }
    }
    m
}

pub fn write_json(p: &Path, v: &impl Serialize) -> anyhow::Result<()> {
    let s = serde_json::to_string_pretty(v)?;
    std::fs::write(p, s + "\n").map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
}

pub fn write_jsonl<T: Serialize>(p: &Path, v: &[T]) -> anyhow::Result<()> {
    let f = std::fs::File::create(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    let mut w = std::io::BufWriter::new(f);
    for x in v {
        serde_json::to_writer(&mut w, x)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

/// Linearizability verdict of one learner over its keys.
fn lin_of(v: &Verdict, l: &str) -> Lin {
    let ks: Vec<&KeyVerdict> = v
        .linearizability
        .iter()
        .filter(|k| k.learner == l)
        .collect();
    if ks.iter().any(|k| k.verdict == Lin::NotLinearizable) {
        Lin::NotLinearizable
    } else if ks.iter().any(|k| k.verdict == Lin::Unknown) {
        Lin::Unknown
    } else {
        Lin::Linearizable
    }
}

/// Writes `verdict.json` and `summary.txt`, prints the summary, returns
/// the exit code.
pub fn finish(out: &Path, v: &Verdict) -> anyhow::Result<u8> {
    write_json(&out.join("verdict.json"), v)?;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "schedule {} seed {}{}: healed at {:.1} s, load until {:.1} s",
        v.schedule,
        v.seed,
        v.byzantine
            .as_ref()
            .map(|b| format!(", {b} Byzantine (equivocate)"))
            .unwrap_or_default(),
        v.heal_ms / 1000.0,
        v.load_end_ms / 1000.0
    );
    let _ = writeln!(
        s,
        "{:<8} {:>9} {:>6} {:>5} {:>5} {:>5}  {:<18} recovery after heal",
        "learner", "attempted", "acked", "fail", "info", "lost", "linearizable",
    );
    let mut failures = Vec::new();
    let mut inconclusive = false;
    for (l, c) in &v.counts {
        let lost = v.lost.iter().filter(|x| &x.learner == l).count();
        let lin = lin_of(v, l);
        let req = v.required.contains(l);
        let rec = v.recovery.iter().find(|r| &r.learner == l);
        let rec_s = match rec.and_then(|r| r.recovery_ms) {
            Some(ms) => format!("{:.2} s", ms / 1000.0),
            None => "none".to_string(),
        };
        let _ = writeln!(
            s,
            "{:<8} {:>9} {:>6} {:>5} {:>5} {:>5}  {:<18} {}{}",
            l,
            c.attempted,
            c.ok,
            c.fail,
            c.info,
            lost,
            format!("{lin:?}").to_lowercase(),
            rec_s,
            if req {
                ""
            } else {
                " (not required: not live or not entangled with itself)"
            }
        );
        if lost > 0 {
            failures.push(format!("{l}: {lost} acknowledged writes lost"));
        }
        if req {
            match lin {
                Lin::NotLinearizable => failures.push(format!("{l}: history not linearizable")),
                Lin::Unknown => inconclusive = true,
                Lin::Linearizable => {}
            }
            if !rec.is_some_and(|r| r.within_bound) {
                failures.push(format!(
                    "{l}: no acknowledged operation within {} s of the heal",
                    v.recovery_bound_s
                ));
            }
        }
    }
    for w in &v.during_faults {
        let acked: Vec<String> = w.acked.iter().map(|(l, n)| format!("{l} {n}")).collect();
        let _ = writeln!(
            s,
            "during window {} ({} down, {:.1}-{:.1} s): acknowledged {}{}",
            w.window,
            w.nodes.join(","),
            w.from_ms / 1000.0,
            w.to_ms / 1000.0,
            if acked.is_empty() {
                "(no learner required)".to_string()
            } else {
                acked.join(", ")
            },
            if w.judged {
                ""
            } else {
                " (too short to judge)"
            }
        );
        if w.judged {
            for (l, n) in &w.acked {
                if *n == 0 {
                    failures.push(format!(
                        "{l}: live with {} faulty but nothing acknowledged from {:.1} s to {:.1} s",
                        w.nodes.join(","),
                        w.from_ms / 1000.0,
                        w.to_ms / 1000.0
                    ));
                }
            }
        }
    }
    for a in &v.agreement {
        let _ = writeln!(
            s,
            "agreement {}-{}: {} slots compared over {} node pairs, {} disagreements",
            a.learners.0,
            a.learners.1,
            a.slots_compared,
            a.node_pairs,
            a.disagreements.len()
        );
        if !a.disagreements.is_empty() {
            failures.push(format!(
                "entangled {} and {} disagree (e.g. {:?})",
                a.learners.0, a.learners.1, a.disagreements[0]
            ));
        }
    }
    if v.convergence.converged {
        let _ = writeln!(
            s,
            "replicas converged: every honest node applied the same log per learner ({:.1} s after the load stopped)",
            v.convergence.millis as f64 / 1000.0
        );
    } else {
        let before = failures.len();
        for (l, n, a, top) in &v.convergence.stalled {
            let req = v.required.contains(l);
            let _ = writeln!(
                s,
                "replica {l}@{n} stalled at {a} applied slots of {top} ({:.1} s after the load stopped){}",
                v.convergence.millis as f64 / 1000.0,
                if req { "" } else { " (not required)" }
            );
            if req {
                failures.push(format!("{l}@{n} did not catch up ({a} of {top} slots)"));
            }
        }
        if failures.len() == before {
            let _ = writeln!(
                s,
                "replicas still differ after {:.1} s, none stalled (still catching up, or a node did not answer)",
                v.convergence.millis as f64 / 1000.0
            );
        }
    }
    let code = if !failures.is_empty() {
        let _ = writeln!(s, "FAIL:");
        for f in &failures {
            let _ = writeln!(s, "  {f}");
        }
        let _ = writeln!(s, "replay: {}", v.replay);
        1
    } else if inconclusive {
        let _ = writeln!(s, "INCONCLUSIVE: a linearizability search ran out of time");
        3
    } else {
        let _ = writeln!(s, "PASS");
        0
    };
    std::fs::write(out.join("summary.txt"), &s)
        .map_err(|e| anyhow::anyhow!("{}: {e}", out.join("summary.txt").display()))?;
    print!("{s}");
    Ok(code)
}

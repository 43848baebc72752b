//! `hpaxos graph check|explain` (issue 2): loads a configuration with
//! `hpaxos-config`, asks `hpaxos_core::graph` (validity with
//! counterexamples; entanglement and liveness for a faulty set) and only
//! formats the answer: aligned plain words for people (coloured on a
//! terminal), or one JSON object with `--json` (fields fixed by PRODUCT.md).

use crate::Outcome;
use clap::Subcommand;
use hpaxos_config::Config;
use hpaxos_core::graph::broken::{broken, Broken};
use hpaxos_core::graph::{self, explain::by_name, Explanation, GraphError, Violation};
use hpaxos_core::{AccSet, LearnerGraph, LearnerId};
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum GraphCmd {
    /// Validate the learner graph of FILE: exit 0 valid, 1 invalid (with
    /// counterexamples), 2 unusable input.
    Check {
        file: PathBuf,
        /// Print one JSON object: {"valid", "violations"}.
        #[arg(long)]
        json: bool,
    },
    /// What holds when the acceptors IDS are faulty: entangled learner
    /// pairs and live learners.
    Explain {
        file: PathBuf,
        /// Comma-separated acceptor names (may be empty: --faulty "").
        #[arg(long, value_name = "IDS", allow_hyphen_values = true)]
        faulty: String,
        /// Print one JSON object: {"faulty", "entangled", "live"}.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: GraphCmd) -> anyhow::Result<Outcome> {
    match cmd {
        GraphCmd::Check { file, json } => check(&file, json),
        GraphCmd::Explain { file, faulty, json } => explain(&file, &faulty, json),
    }
}

/// Loads FILE; its warnings go to stderr (human output) or are returned
/// for the JSON object.
fn load(file: &Path, json_out: bool) -> anyhow::Result<(Config, Vec<String>)> {
    let cfg = hpaxos_config::load_file(file)?;
    let warnings: Vec<String> = cfg.warnings().iter().map(|w| w.to_string()).collect();
    if !json_out {
        for w in &warnings {
            eprintln!("warning: {}: {w}", file.display());
        }
    }
    Ok((cfg, warnings))
}

/// ANSI styling, only when stdout is a terminal.
struct Style(bool);

impl Style {
    fn detect() -> Style {
        Style(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn good(&self, s: &str) -> String {
        self.paint("32;1", s)
    }
    fn bad(&self, s: &str) -> String {
        self.paint("31;1", s)
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

fn names(g: &LearnerGraph, s: &AccSet) -> Vec<String> {
    s.iter()
        .filter_map(|a| g.acceptors.get(a.index()).cloned())
        .collect()
}

fn lname(g: &LearnerGraph, l: LearnerId) -> &str {
    g.learners
        .get(l.index())
        .map(|s| s.name.as_str())
        .unwrap_or("?")
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// A violation with its learner pair ordered by name (quorums follow).
fn by_name_order(g: &LearnerGraph, v: &Violation) -> Violation {
    let (a, b) = v.learners;
    if lname(g, a) <= lname(g, b) {
        v.clone()
    } else {
        Violation {
            learners: (b, a),
            safe: v.safe,
            quorums: (v.quorums.1, v.quorums.0),
        }
    }
}

fn check(file: &Path, json_out: bool) -> anyhow::Result<Outcome> {
    let (cfg, warnings) = load(file, json_out)?;
    let g = &cfg.graph;
    let mut violations = match graph::validate(g.clone()) {
        Ok(_) => Vec::new(),
        Err(GraphError::Invalid(v)) => v,
        Err(e @ (GraphError::Shape(_) | GraphError::Unconfirmed(_))) => return Err(e.into()),
    };
    violations = violations.iter().map(|v| by_name_order(g, v)).collect();
    violations.sort_by(|x, y| {
        (lname(g, x.learners.0), lname(g, x.learners.1))
            .cmp(&(lname(g, y.learners.0), lname(g, y.learners.1)))
    });
    let all = g.all_acceptors();
    if json_out {
        let vs: Vec<_> = violations
            .iter()
            .map(|v| {
                json!({
                    "learners": [lname(g, v.learners.0), lname(g, v.learners.1)],
                    "safe": names(g, &v.safe),
                    "quorums": [names(g, &v.quorums.0), names(g, &v.quorums.1)],
                    "faulty": names(g, &all.difference(&v.safe)),
                })
            })
            .collect();
        println!(
            "{}",
            json!({"valid": violations.is_empty(), "violations": vs, "warnings": warnings})
        );
    } else {
        print_check(file, &cfg, &violations);
    }
    Ok(if violations.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Violation
    })
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Learner pairs (self-pairs included) that the closure relates at all.
fn closure_pairs(g: &LearnerGraph) -> usize {
    let all = g.all_acceptors();
    let n = g.learners.len();
    (0..n)
        .flat_map(|i| (i..n).map(move |j| (i, j)))
        .filter(|&(i, j)| g.closure_holds(LearnerId(i as u16), LearnerId(j as u16), &all))
        .count()
}

fn print_check(file: &Path, cfg: &Config, violations: &[Violation]) {
    let st = Style::detect();
    let g = &cfg.graph;
    let shape = format!(
        "{}, {}, {}",
        plural(g.acceptors.len(), "acceptor", "acceptors"),
        plural(g.learners.len(), "learner", "learners"),
        plural(g.edges.len(), "safety edge", "safety edges"),
    );
    if violations.is_empty() {
        let pairs = closure_pairs(g);
        println!("{}: {} ({shape})", file.display(), st.good("valid"));
        println!(
            "{} in the closure; for each, any two quorums meet in a safe acceptor",
            plural(pairs, "learner pair", "learner pairs")
        );
        return;
    }
    println!(
        "{}: {} ({shape}); {} can disagree:",
        file.display(),
        st.bad("invalid"),
        plural(violations.len(), "learner pair", "learner pairs"),
    );
    let all = g.all_acceptors();
    for v in violations {
        let (l1, l2) = (lname(g, v.learners.0), lname(g, v.learners.1));
        let faulty = names(g, &all.difference(&v.safe));
        let who = if v.learners.0 == v.learners.1 {
            format!("{} can decide two different values", st.bold(l1))
        } else {
            format!("{} and {} can decide differently", st.bold(l1), st.bold(l2))
        };
        let when = if faulty.is_empty() {
            "even when every acceptor is safe".to_string()
        } else {
            format!(
                "when only {} {} faulty",
                list(&faulty),
                if faulty.len() == 1 { "is" } else { "are" }
            )
        };
        println!();
        println!("  {who} {when}:");
        let label1 = format!("quorum of {l1}");
        let label2 = if v.learners.0 == v.learners.1 {
            format!("other quorum of {l2}")
        } else {
            format!("quorum of {l2}")
        };
        let w = label1.len().max(label2.len()).max("safe".len());
        print_row(&label1, w, &names(g, &v.quorums.0));
        print_row(&label2, w, &names(g, &v.quorums.1));
        let safe = names(g, &v.safe);
        if safe.len() <= 12 || faulty.is_empty() {
            print_row("safe", w, &safe);
        } else {
            print_row(
                "safe",
                w,
                &[format!(
                    "the other {} of the {} acceptors",
                    safe.len(),
                    g.acceptors.len()
                )],
            );
        }
        let common = names(g, &v.quorums.0.intersection(&v.quorums.1));
        if common.is_empty() {
            println!("    the two quorums share no acceptor at all");
        } else {
            println!(
                "    the two quorums share only {}, none of them safe",
                list(&common)
            );
        }
    }
}

/// Width of human output lines before list values wrap.
const WIDTH: usize = 100;

/// `    label  a, b, c` with the list wrapped under its first item.
fn print_row(label: &str, w: usize, items: &[String]) {
    print_row_styled(4, label, w, items, &|x: &str| x.to_string());
}

/// A labelled, aligned list, wrapped at [`WIDTH`]; `paint` styles each item
/// (widths are counted before styling).
fn print_row_styled(
    margin: usize,
    label: &str,
    w: usize,
    items: &[String],
    paint: &dyn Fn(&str) -> String,
) {
    let indent = margin + w + 2;
    let mut line = format!("{}{label:<w$}  ", " ".repeat(margin));
    let mut width = indent;
    if items.is_empty() {
        line.push_str("(none)");
    }
    let mut first = true;
    for (i, item) in items.iter().enumerate() {
        let sep = if i + 1 < items.len() { "," } else { "" };
        let need = item.chars().count() + sep.len() + usize::from(!first);
        if !first && width + need > WIDTH {
            println!("{}", line.trim_end());
            line = " ".repeat(indent);
            width = indent;
            first = true;
        }
        if !first {
            line.push(' ');
            width += 1;
        }
        line.push_str(&paint(item));
        line.push_str(sep);
        width += item.chars().count() + sep.len();
        first = false;
    }
    println!("{}", line.trim_end());
}

fn explain(file: &Path, faulty: &str, json_out: bool) -> anyhow::Result<Outcome> {
    let (cfg, warnings) = load(file, json_out)?;
    let ids = cfg.parse_acceptor_list(faulty).map_err(|e| match e {
        hpaxos_config::ConfigError::Entry { message, .. } => anyhow::anyhow!("--faulty: {message}"),
        other => anyhow::anyhow!("--faulty: {other}"),
    })?;
    let faulty_set: AccSet = ids.iter().copied().collect();
    let g = &cfg.graph;
    // Validate first: an invalid graph's closure promises more than it keeps.
    let valid = match graph::validate(g.clone()) {
        Ok(_) => true,
        Err(GraphError::Invalid(_)) => false,
        Err(e @ (GraphError::Shape(_) | GraphError::Unconfirmed(_))) => return Err(e.into()),
    };
    let e = graph::explain(g, &faulty_set);
    let broken_pairs = if valid {
        Vec::new()
    } else {
        broken(g, &e.safe, &e.entangled).map_err(|(a, b)| {
            anyhow::anyhow!(
                "internal error in the graph checker: a counterexample for {} and {} could not be confirmed",
                lname(g, a),
                lname(g, b)
            )
        })?
    };
    if json_out {
        let pair = |(a, b): (LearnerId, LearnerId)| json!([lname(g, a), lname(g, b)]);
        let pairs: Vec<_> = e.entangled.iter().map(|p| pair(*p)).collect();
        let live: Vec<_> = e.live.iter().map(|l| lname(g, *l)).collect();
        let br: Vec<_> = broken_pairs.iter().map(|b| pair(b.learners)).collect();
        let why: Vec<_> = broken_pairs
            .iter()
            .map(|b| {
                let w = by_name_order(g, &b.witness);
                json!({
                    "pair": pair(b.learners),
                    "learners": [lname(g, w.learners.0), lname(g, w.learners.1)],
                    "safe": names(g, &w.safe),
                    "quorums": [names(g, &w.quorums.0), names(g, &w.quorums.1)],
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "faulty": names(g, &e.faulty),
                "safe": names(g, &e.safe),
                "entangled": pairs,
                "live": live,
                "valid": valid,
                "broken": br,
                "counterexamples": why,
                "warnings": warnings,
            })
        );
    } else {
        print_explain(file, &cfg, &e, valid, &broken_pairs);
    }
    Ok(Outcome::Ok)
}

/// One line of `explain`'s human output: label, names, colouring.
type Row<'a> = (&'a str, Vec<String>, &'a dyn Fn(&str) -> String);

fn print_explain(file: &Path, cfg: &Config, e: &Explanation, valid: bool, broken: &[Broken]) {
    let st = Style::detect();
    let g = &cfg.graph;
    let order = by_name(g);
    let pair = |(a, b): (LearnerId, LearnerId)| format!("{}+{}", lname(g, a), lname(g, b));
    let mut not_entangled = Vec::new();
    for (i, &a) in order.iter().enumerate() {
        for &b in &order[i..] {
            if !e.entangled.contains(&(a, b)) {
                not_entangled.push(pair((a, b)));
            }
        }
    }
    let is_broken = |p: &(LearnerId, LearnerId)| broken.iter().any(|b| b.learners == *p);
    let entangled: Vec<String> = e
        .entangled
        .iter()
        .filter(|p| !is_broken(p))
        .map(|p| pair(*p))
        .collect();
    let broken_names: Vec<String> = broken.iter().map(|b| pair(b.learners)).collect();
    let live: Vec<String> = e.live.iter().map(|l| lname(g, *l).to_string()).collect();
    let not_live: Vec<String> = order
        .iter()
        .filter(|l| !e.live.contains(l))
        .map(|l| lname(g, *l).to_string())
        .collect();
    let mut safe = names(g, &e.safe);
    if safe.len() > 12 && !e.faulty.is_empty() {
        safe = vec![format!(
            "the other {} of the {} acceptors",
            safe.len(),
            g.acceptors.len()
        )];
    }
    let plain = |x: &str| x.to_string();
    let good = |x: &str| st.good(x);
    let bad = |x: &str| st.bad(x);
    let mut rows: Vec<Row<'_>> = vec![
        ("faulty", names(g, &e.faulty), &plain),
        ("safe", safe, &plain),
        ("entangled", entangled, &good),
    ];
    if !valid {
        rows.push(("broken", broken_names, &bad));
    }
    rows.push(("not entangled", not_entangled, &bad));
    rows.push(("live", live, &good));
    rows.push(("not live", not_live, &bad));
    for (label, items, paint) in rows {
        print_row_styled(0, label, 13, &items, paint);
    }
    println!("(entangled: the closure of the safety edges holds for this safe set; live: has a quorum of safe acceptors)");
    if valid {
        return;
    }
    println!();
    println!(
        "{}: the learner graph is {} (`hpaxos graph check {}`): its closure is not kept.",
        file.display(),
        st.bad("invalid"),
        file.display()
    );
    if broken.is_empty() {
        println!("With these faulty acceptors every entangled pair still agrees: each group of entangled learners has quorums meeting in a safe acceptor.");
        return;
    }
    println!(
        "broken: {} the closure relates but whose agreement is not guaranteed with these faulty acceptors:",
        plural(broken.len(), "pair", "pairs")
    );
    // One counterexample per distinct witness, with the pairs it breaks.
    let mut groups: Vec<(Violation, Vec<String>)> = Vec::new();
    for b in broken {
        let w = by_name_order(g, &b.witness);
        match groups.iter_mut().find(|(v, _)| *v == w) {
            Some((_, ps)) => ps.push(pair(b.learners)),
            None => groups.push((w, vec![pair(b.learners)])),
        }
    }
    for (v, ps) in groups {
        let (l1, l2) = (lname(g, v.learners.0), lname(g, v.learners.1));
        println!();
        let who = if v.learners.0 == v.learners.1 {
            format!("{} can decide two different values", st.bold(l1))
        } else {
            format!("{} and {} can decide differently", st.bold(l1), st.bold(l2))
        };
        println!("  {} ({who}):", list(&ps));
        let label1 = format!("quorum of {l1}");
        let label2 = if v.learners.0 == v.learners.1 {
            format!("other quorum of {l2}")
        } else {
            format!("quorum of {l2}")
        };
        let w = label1.len().max(label2.len());
        print_row(&label1, w, &names(g, &v.quorums.0));
        print_row(&label2, w, &names(g, &v.quorums.1));
        let common = names(g, &v.quorums.0.intersection(&v.quorums.1));
        if common.is_empty() {
            println!("    the two quorums share no acceptor at all");
        } else {
            println!(
                "    the two quorums share only {}, {} faulty",
                list(&common),
                if common.len() == 1 { "which is" } else { "all" }
            );
        }
    }
}

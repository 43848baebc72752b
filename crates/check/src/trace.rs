//! Human-readable counterexample traces: one line per step (who received or
//! lost what, or which proposer moved on), then what the step sent and
//! decided, with acceptor, learner and value names from the configuration.

use crate::model::{Action, CheckModel, SysState};
use hpaxos_core::{Message, Vote};
use std::collections::BTreeSet;

fn vote(m: &CheckModel, v: &Vote) -> String {
    format!(
        "{} b{} {}",
        m.inst.trust.learner_name(v.lr),
        v.bal.0,
        m.inst.value_name(&v.val)
    )
}

/// One message, with names: `2av(a2, alice, b1, x)`.
pub fn message(m: &CheckModel, msg: &Message) -> String {
    let t = &m.inst.trust;
    let v = |x: &hpaxos_core::Value| m.inst.value_name(x);
    match msg {
        Message::M1a(x) => format!("1a({}, b{})", t.learner_name(x.lr), x.bal.0),
        Message::M1b(x) => {
            let votes: Vec<String> = x.votes.iter().map(|p| vote(m, p)).collect();
            let props: Vec<String> = x.proposals.iter().map(|p| vote(m, p)).collect();
            format!(
                "1b({}, {}, b{}, votes {{{}}}, proposals {{{}}})",
                t.acceptor_name(x.acc),
                t.learner_name(x.lr),
                x.bal.0,
                votes.join(", "),
                props.join(", ")
            )
        }
        Message::M1c(x) => format!("1c({}, b{}, {})", t.learner_name(x.lr), x.bal.0, v(&x.val)),
        Message::M1aRange(x) => format!(
            "1a({}, b{}, slots {}..)",
            t.learner_name(x.lr),
            x.bal.0,
            x.from.0
        ),
        Message::M1bRange(x) => {
            let reports: Vec<String> = x
                .reports
                .iter()
                .map(|r| {
                    let votes: Vec<String> = r.votes.iter().map(|p| vote(m, p)).collect();
                    let props: Vec<String> = r.proposals.iter().map(|p| vote(m, p)).collect();
                    format!(
                        "s{}: votes {{{}}}, proposals {{{}}}",
                        r.slot.0,
                        votes.join(", "),
                        props.join(", ")
                    )
                })
                .collect();
            format!(
                "1b({}, {}, b{}, slots {}.., {{{}}})",
                t.acceptor_name(x.acc),
                t.learner_name(x.lr),
                x.bal.0,
                x.from.0,
                reports.join("; ")
            )
        }
        Message::M2av(x) => format!(
            "2av({}, {}, b{}, {})",
            t.acceptor_name(x.acc),
            t.learner_name(x.lr),
            x.bal.0,
            v(&x.val)
        ),
        Message::M2b(x) => format!(
            "2b({}, {}, b{}, {})",
            t.acceptor_name(x.acc),
            t.learner_name(x.lr),
            x.bal.0,
            v(&x.val)
        ),
    }
}

fn describe(m: &CheckModel, a: &Action) -> (String, String) {
    let msg = |id| {
        m.interner
            .get(id)
            .map(|x| message(m, &x))
            .unwrap_or_else(|| "?".into())
    };
    match a {
        Action::Deliver { to, msg: id } => (m.node_name(*to), format!("receives {}", msg(*id))),
        Action::Drop { to, msg: id } => (m.node_name(*to), format!("loses {}", msg(*id))),
        Action::NextBallot { node } => (m.node_name(*node), "starts its next ballot".into()),
        Action::Restart { node } => (
            m.node_name(*node),
            "crashes and restarts from its durable records".into(),
        ),
    }
}

/// The steps of a path, formatted; `states[i]` is the state before step i.
pub fn format_path(m: &CheckModel, path: &[(SysState, Option<Action>)]) -> Vec<String> {
    let mut lines = Vec::new();
    let who_width = (0..m.n_nodes())
        .map(|i| m.node_name(i).len())
        .chain(std::iter::once("initially".len()))
        .max()
        .unwrap_or(0);
    if let Some((s0, _)) = path.first() {
        let init = m.decisions(s0);
        if !init.is_empty() {
            lines.push(format!(
                "{:>3}. {:<who_width$}  the fake acceptors' messages are sent; 2b reach their learners",
                0, "initially"
            ));
            for (l, b, v) in init {
                lines.push(format!(
                    "     {:<who_width$}    {} DECIDES {} in b{}",
                    "",
                    m.inst.trust.learner_name(l),
                    m.inst.value_name(&v),
                    b.0
                ));
            }
        }
    }
    for (i, w) in path.windows(2).enumerate() {
        let (before, Some(action)) = (&w[0].0, &w[0].1) else {
            continue;
        };
        let after = &w[1].0;
        let (who, what) = describe(m, action);
        lines.push(format!("{:>3}. {who:<who_width$}  {what}", i + 1));
        let new: Vec<String> = after
            .sent
            .iter()
            .filter(|id| !before.sent.contains(*id))
            .filter_map(|id| m.interner.get(id))
            .map(|x| message(m, &x))
            .collect();
        for s in new {
            lines.push(format!("     {:<who_width$}    sends {s}", ""));
        }
        let old: BTreeSet<_> = m.decisions(before).into_iter().collect();
        for (l, b, v) in m.decisions(after) {
            if !old.contains(&(l, b, v.clone())) {
                lines.push(format!(
                    "     {:<who_width$}    {} DECIDES {} in b{}",
                    "",
                    m.inst.trust.learner_name(l),
                    m.inst.value_name(&v),
                    b.0
                ));
            }
        }
    }
    lines
}

/// One line saying which entangled learners disagree in `s`.
pub fn disagreement(m: &CheckModel, s: &SysState) -> Option<String> {
    let (l1, l2) = m.disagreement(s)?;
    let names = |l| {
        m.decided(s, l)
            .iter()
            .map(|v| m.inst.value_name(v))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let t = &m.inst.trust;
    Some(if l1 == l2 {
        format!(
            "learner {} decided different values: {{{}}}",
            t.learner_name(l1),
            names(l1)
        )
    } else {
        format!(
            "entangled learners {} and {} disagree: {} decided {{{}}}, {} decided {{{}}}",
            t.learner_name(l1),
            t.learner_name(l2),
            t.learner_name(l1),
            names(l1),
            t.learner_name(l2),
            names(l2)
        )
    })
}

//! Generator of the scale configuration of issue 2: 100 acceptors in 10
//! organisations, 10 learners with nested threshold quorums, and a
//! `[[safety]]` edge between every pair of learners (self-pairs included).
//! Used by the `graph_bench` example and by tests; emits TOML text so the
//! whole path (parser, compiler, checker) is exercised.
//!
//! Learner `i` has quorums `T of {t of {org_0}, .., t of {org_9}}` with
//! `T, t` in {7, 8}. Edges alternate between "at least 7 organisations have
//! at most 2 faulty members" and "at least 8 organisations have at most 3".
//! Any two quorums share >= 4 organisations with >= 4 common members each,
//! so both safe families leave a safe member in the overlap: valid.
//! [`Variant::Windows`] gives each learner its own 8 organisations instead.
//! With [`Variant::Weak`], learner `l9` gets `6 of {6 of {..}}` quorums, which
//! breaks validity (its quorums and another's can meet in faulty members
//! only), so the checker must produce counterexamples.

use std::fmt::Write;

pub const ORGS: usize = 10;
pub const PER_ORG: usize = 10;
pub const LEARNERS: usize = 10;

fn acc(o: usize, m: usize) -> String {
    format!("o{o}m{m}")
}

fn nested(outer: usize, inner: usize) -> String {
    let orgs: Vec<String> = (0..ORGS)
        .map(|o| {
            let members: Vec<String> = (0..PER_ORG).map(|m| acc(o, m)).collect();
            format!("{inner} of {{{}}}", members.join(", "))
        })
        .collect();
    format!("{outer} of {{{}}}", orgs.join(", "))
}

/// Which scale configuration to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Every learner trusts all ten organisations (valid).
    Uniform,
    /// Learner `i` trusts the 8 organisations `i, i+1, .., i+7 (mod 10)`,
    /// 7 of them with 7 of 10 members each (valid).
    Windows,
    /// `Uniform` with learner `l9` weakened to `6 of {6 of {..}}` (invalid).
    Weak,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Uniform, Variant::Windows, Variant::Weak];
    pub fn name(self) -> &'static str {
        match self {
            Variant::Uniform => "uniform",
            Variant::Windows => "windows",
            Variant::Weak => "weak",
        }
    }
}

fn window(outer: usize, inner: usize, first: usize, len: usize) -> String {
    let orgs: Vec<String> = (0..len)
        .map(|i| {
            let o = (first + i) % ORGS;
            let members: Vec<String> = (0..PER_ORG).map(|m| acc(o, m)).collect();
            format!("{inner} of {{{}}}", members.join(", "))
        })
        .collect();
    format!("{outer} of {{{}}}", orgs.join(", "))
}

/// The configuration text.
pub fn scale_config(variant: Variant) -> String {
    let weak = variant == Variant::Weak;
    let mut s = String::from("[acceptors]\n");
    for o in 0..ORGS {
        for m in 0..PER_ORG {
            let _ = writeln!(s, "{} = {{}}", acc(o, m));
        }
    }
    for l in 0..LEARNERS {
        let (outer, inner) = if weak && l == LEARNERS - 1 {
            (6, 6)
        } else {
            (7 + l % 2, 7 + (l / 2) % 2)
        };
        let quorums = if variant == Variant::Windows {
            window(7, 7, l, 8)
        } else {
            nested(outer, inner)
        };
        let _ = writeln!(s, "\n[learners.l{l}]\nquorums = \"{quorums}\"");
    }
    for i in 0..LEARNERS {
        for j in i..LEARNERS {
            let safe = if (i + j) % 2 == 0 {
                nested(7, 8)
            } else {
                nested(8, 7)
            };
            let _ = writeln!(
                s,
                "\n[[safety]]\nlearners = [\"l{i}\", \"l{j}\"]\nsafe = \"{safe}\""
            );
        }
    }
    s
}

//! Compiles set expressions and explicit lists of sets into
//! [`hpaxos_core::Family`] threshold trees, resolving acceptor names.
//!
//! Data flow: [`crate::expr::parse`] gives an [`Expr`]; this module checks its
//! meaning (known acceptors, thresholds between 1 and the item count, no name
//! twice in one list) and builds the family the core tests quorums with.

use crate::expr::{Column, Expr, ExprError, Form};
use hpaxos_core::{AccSet, AcceptorId, Family};
use std::collections::BTreeSet;

/// Looks acceptor names up (name -> dense id).
pub trait Names {
    fn id(&self, name: &str) -> Option<AcceptorId>;
}

fn err<T>(at: Column, message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError {
        column: at,
        message: message.into(),
    })
}

fn form_name(form: Form, k: u64) -> String {
    match form {
        Form::Of => format!("`{k} of {{..}}`"),
        Form::All => "`all {..}`".into(),
        Form::Any => "`any {..}`".into(),
        Form::And => "`and`".into(),
        Form::Or => "`or`".into(),
    }
}

/// Compiles a parsed expression into a family.
pub fn compile(e: &Expr, names: &dyn Names) -> Result<Family, ExprError> {
    match e {
        Expr::Id { name, at } => Ok(Family::acceptor(resolve(name, *at, names)?)),
        Expr::Threshold { .. } => node(e, names),
    }
}

fn resolve(name: &str, at: Column, names: &dyn Names) -> Result<AcceptorId, ExprError> {
    match names.id(name) {
        Some(a) => Ok(a),
        None => err(at, format!("unknown acceptor `{name}`")),
    }
}

fn node(e: &Expr, names: &dyn Names) -> Result<Family, ExprError> {
    let Expr::Threshold { k, items, at, form } = e else {
        return compile(e, names);
    };
    let n = items.len() as u64;
    if *k == 0 {
        return err(
            *at,
            "a threshold must be at least 1 (`0 of` holds for every set)",
        );
    }
    if *k > n {
        return err(
            *at,
            format!(
                "threshold {k} is larger than the {n} item(s) of {}",
                form_name(*form, *k)
            ),
        );
    }
    let mut accs = AccSet::EMPTY;
    let mut seen = BTreeSet::new();
    let mut subs = Vec::new();
    for item in items {
        match item {
            Expr::Id { name, at } => {
                if !seen.insert(name.as_str()) {
                    return err(
                        *at,
                        format!("acceptor `{name}` appears twice in the same list"),
                    );
                }
                accs.insert(resolve(name, *at, names)?);
            }
            Expr::Threshold { .. } => subs.push(node(item, names)?),
        }
    }
    // A one-item list with threshold 1 is its item: keep trees shallow.
    if subs.len() == 1 && accs.is_empty() && *k == 1 {
        if let Some(only) = subs.pop() {
            return Ok(only);
        }
    }
    Ok(Family::threshold(*k as u32, accs, subs))
}

/// Compiles an explicit array of minimal sets (`[["a1", "a2"], ...]`).
/// `where_` is a human description used in messages.
pub fn compile_sets(sets: &[Vec<String>], names: &dyn Names) -> Result<Family, String> {
    if sets.is_empty() {
        return Err("the list of sets is empty, so no set satisfies it".into());
    }
    let mut out = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        if set.is_empty() {
            return Err(format!(
                "set {} is empty (an empty set would satisfy it with no acceptor at all)",
                i + 1
            ));
        }
        let mut s = AccSet::EMPTY;
        for name in set {
            let Some(a) = names.id(name) else {
                return Err(format!("set {}: unknown acceptor `{name}`", i + 1));
            };
            if !s.insert(a) {
                return Err(format!("set {}: acceptor `{name}` appears twice", i + 1));
            }
        }
        out.push(s);
    }
    if out.len() == 1 {
        return Ok(Family::superset_of(out[0]));
    }
    Ok(Family::any_superset_of(&out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse;

    struct Abc;
    impl Names for Abc {
        fn id(&self, name: &str) -> Option<AcceptorId> {
            let b = name.as_bytes();
            if b.len() == 2 && b[0] == b'a' && b[1].is_ascii_digit() {
                Some(AcceptorId((b[1] - b'0') as u16))
            } else {
                None
            }
        }
    }

    fn set(ids: &[u16]) -> AccSet {
        ids.iter().map(|&i| AcceptorId(i)).collect()
    }

    fn fam(s: &str) -> Result<Family, ExprError> {
        compile(&parse(s)?, &Abc)
    }

    #[test]
    fn three_of_four() {
        let f = fam("3 of {a1, a2, a3, a4}").unwrap();
        assert!(f.contains(&set(&[1, 2, 4])));
        assert!(!f.contains(&set(&[1, 2])));
    }

    #[test]
    fn and_or_any_all() {
        let f = fam("a1 and (a2 or a3)").unwrap();
        assert!(f.contains(&set(&[1, 3])));
        assert!(!f.contains(&set(&[2, 3])));
        let g = fam("any {all {a1, a2}, a3}").unwrap();
        assert!(g.contains(&set(&[3])));
        assert!(g.contains(&set(&[1, 2])));
        assert!(!g.contains(&set(&[1])));
    }

    #[test]
    fn meaning_errors_say_where() {
        let e = fam("3 of {a1, a2}").unwrap_err();
        assert_eq!(e.column, Column(1));
        assert!(e.message.contains("larger"), "{}", e.message);
        let e = fam("2 of {a1, a1, a2}").unwrap_err();
        assert_eq!(e.column, Column(11));
        assert!(e.message.contains("twice"));
        let e = fam("a1 and zz").unwrap_err();
        assert_eq!(e.column, Column(8));
        assert!(e.message.contains("unknown acceptor `zz`"));
        assert!(fam("0 of {a1}").is_err());
    }
}

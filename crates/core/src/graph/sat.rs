//! CNF encoding of monotone threshold families on top of the `batsat` SAT
//! solver.
//!
//! Data flow: [`super::validity`] creates one [`Encoder`], asks it for a
//! literal `r` per (family, copy of the acceptors) with [`Encoder::family`],
//! and solves under assumptions. Every literal `r` returned satisfies
//! `r -> family(set of acceptors whose literal is true)`: families are
//! upward-closed, so the one-directional (Plaisted-Greenbaum) encoding is
//! exact for the existential questions asked here. Thresholds `k of n` are
//! encoded with a sequential counter, `O(n * k)` clauses.

use crate::accset::AccSet;
use crate::family::Family;
use batsat::{lbool, BasicSolver, Lit, SolverInterface};
use std::collections::HashMap;

/// A SAT solver plus a cache of already-encoded families.
pub struct Encoder<'g> {
    solver: BasicSolver,
    truth: Lit,
    /// (copy, family) -> literal implying that family over that copy.
    cache: HashMap<(usize, &'g Family), Lit>,
    /// `copies[c][a]`: "acceptor `a` is in set number `c`".
    copies: Vec<Vec<Lit>>,
}

impl<'g> Encoder<'g> {
    /// A solver with `n_copies` sets of `n_acceptors` literals each.
    pub fn new(n_acceptors: usize, n_copies: usize) -> Self {
        let mut solver = BasicSolver::default();
        let truth = Lit::new(solver.new_var_default(), true);
        solver.add_clause_reuse(&mut vec![truth]);
        let copies = (0..n_copies)
            .map(|_| {
                (0..n_acceptors)
                    .map(|_| Lit::new(solver.new_var_default(), true))
                    .collect()
            })
            .collect();
        Encoder {
            solver,
            truth,
            cache: HashMap::new(),
            copies,
        }
    }

    pub fn member(&self, copy: usize, acceptor: usize) -> Lit {
        self.copies[copy][acceptor] // ok: callers pass in-range indexes
    }

    pub fn fresh(&mut self) -> Lit {
        Lit::new(self.solver.new_var_default(), true)
    }

    pub fn falsity(&self) -> Lit {
        !self.truth
    }

    pub fn clause(&mut self, lits: &[Lit]) {
        let mut c = lits.to_vec();
        self.solver.add_clause_reuse(&mut c);
    }

    /// The literal of an already-encoded family, if any.
    pub fn cached(&self, copy: usize, f: &'g Family) -> Option<Lit> {
        self.cache.get(&(copy, f)).copied()
    }

    /// A literal `r` with `r -> family(copy)`.
    pub fn family(&mut self, copy: usize, f: &'g Family) -> Lit {
        if let Some(l) = self.cache.get(&(copy, f)) {
            return *l;
        }
        let mut items: Vec<Lit> = f
            .accs()
            .iter()
            .map(|a| self.member(copy, a.index()))
            .collect();
        for sub in f.subs() {
            let l = self.family(copy, sub);
            items.push(l);
        }
        let r = self.at_least(f.k() as usize, &items);
        self.cache.insert((copy, f), r);
        r
    }

    /// A literal `r` with `r -> (at least k of items are true)`.
    pub fn at_least(&mut self, k: usize, items: &[Lit]) -> Lit {
        let n = items.len();
        if k == 0 {
            return self.truth;
        }
        if k > n {
            return self.falsity();
        }
        if n == 1 {
            return items[0];
        }
        let r = self.fresh();
        if k == 1 {
            let mut c = vec![!r];
            c.extend_from_slice(items);
            self.clause(&c);
            return r;
        }
        if k == n {
            for &x in items {
                self.clause(&[!r, x]);
            }
            return r;
        }
        // s[i][j] (1 <= i <= n, 1 <= j <= min(i, k)): "at least j of the
        // first i items". Only j >= k - (n - i) can still reach k.
        // s[i][j] -> s[i-1][j] or (x_i and s[i-1][j-1]).
        let mut prev: Vec<Option<Lit>> = vec![None; k + 1]; // row i-1; None = false
        for (i0, &x) in items.iter().enumerate() {
            let i = i0 + 1;
            let lo = (k + i).saturating_sub(n).max(1);
            let hi = i.min(k);
            let mut row: Vec<Option<Lit>> = vec![None; k + 1];
            for j in lo..=hi {
                let s = if i == n && j == k { r } else { self.fresh() };
                let a = prev[j]; // s[i-1][j]
                let mut c1 = vec![!s, x];
                if let Some(a) = a {
                    c1.push(a);
                }
                self.clause(&c1);
                if j > 1 {
                    match prev[j - 1] {
                        Some(b) => {
                            let mut c2 = vec![!s, b];
                            if let Some(a) = a {
                                c2.push(a);
                            }
                            self.clause(&c2);
                        }
                        None => {
                            // s[i-1][j-1] is false: s[i][j] needs s[i-1][j].
                            match a {
                                Some(a) => self.clause(&[!s, a]),
                                None => self.clause(&[!s]),
                            }
                        }
                    }
                }
                row[j] = Some(s);
            }
            prev = row;
        }
        r
    }

    /// Solves under assumptions; `true` when satisfiable.
    pub fn solve(&mut self, assumptions: &[Lit]) -> bool {
        self.solver.solve_limited(assumptions) == lbool::TRUE
    }

    /// After a satisfiable [`Encoder::solve`]: the set of acceptors whose
    /// literal of `copy` is true in the model.
    pub fn model_set(&self, copy: usize) -> AccSet {
        let mut s = AccSet::EMPTY;
        for (a, &l) in self.copies[copy].iter().enumerate() {
            if self.solver.value_lit(l) == lbool::TRUE {
                s.insert(crate::ids::AcceptorId(a as u16));
            }
        }
        s
    }
}

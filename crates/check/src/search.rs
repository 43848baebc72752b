//! The project's own explorer of [`CheckModel`]: depth-first, with sleep
//! sets, compact 64-bit state fingerprints, and a random action order for
//! swarm search. stateright's checkers have no partial-order reduction, so
//! this is where it lives; `run` picks this engine or stateright's BFS.
//!
//! Data flow: [`crate::run::check`] -> [`dfs`] (one seed) or [`swarm`]
//! (many seeds, each a bounded random DFS) -> an [`Outcome`] that `run`
//! turns into a [`crate::run::Report`].
//!
//! **Sleep sets** (Godefroid). Two actions of different actors commute: a
//! delivery, loss, ballot change or restart reads and writes only its
//! actor's state, adds to the grow-only `sent`, and hands new 2b messages
//! to learners whose state is a set function of the 2b they hold; and
//! whether an action is enabled depends only on its actor (a delivery that
//! leaves its actor unchanged sends nothing new: the model counts
//! exceptions in `CheckModel::unchanged_sends` and the run reports them).
//! After exploring action `t` from a state, `t` is put to sleep for the
//! siblings explored next, and a child inherits the sleeping actions that
//! commute with the action leading to it: their successors were reached
//! through the other order. Sleep sets prune transitions, never states: with
//! the state cache, a state met again with a sleep set that is not a superset
//! of the stored one is explored again for the difference (and stores the
//! intersection), so every reachable state is visited and checked. The
//! saving is in transitions computed (the model's cost), and it is exact:
//! `tests/reductions.rs` compares verdicts, violations and state counts with
//! the reduction off.
//!
//! **Sleep sets with symmetry.** With [`crate::symmetry`] the table is keyed
//! by orbit, and a state met again may be another member `t = g(s)` of the
//! orbit of the stored one. The table keeps each sleep set renamed into the
//! names of the orbit's representative (the image with the least
//! fingerprint, through the permutation that gives it: packed actions with
//! their acceptor actor and message id renamed); a revisit renames its own
//! sleep set the same way, compares, and renames the actions to wake back
//! into its own names. Why this is exact: a step `s -a-> u` exists iff
//! `g(s) -g(a)-> g(u)` does (the premise of symmetry reduction), two actions
//! are independent iff their images are (different actors map to different
//! actors), and the properties are invariant; so the search is the
//! sleep-set search of the quotient system (orbits), where "the successors
//! of `s` by `Z` are reached elsewhere" carries over to "those of `g(s)` by
//! `g(Z)`". When a permutation fixes the state (a non-trivial stabiliser),
//! the renaming is not unique, but each choice is a valid sleep set of the
//! representative (if `h(s) = s` and `Z` is valid at `s`, so is `h(Z)`), and
//! the table stores one choice and intersects later ones with it, as the
//! plain algorithm does. This is an argument, not a proof; the evidence is
//! `tests/symmetry.rs` and `tests/symmetry_teeth.rs`: with both reductions
//! the search visits exactly the orbits of the full search's states, on
//! every instance there and under every mutation, with the same verdicts,
//! and computes fewer transitions than symmetry alone.
//!
//! **Fingerprints.** The visited table keeps a 64-bit hash per state (as
//! stateright and TLC do), not the state: a collision could hide a state;
//! the report gives the probability bound `n^2 / 2^65`.
//!
//! **Swarm.** Each seed explores in its own random action order, with its
//! own table, up to a per-seed state budget; deep counterexamples that a
//! breadth-first search reaches only after millions of states are found by
//! some seed's first dives. A seed's run is deterministic, so the seed
//! printed with a violation replays it (`--search dfs --seed S`).

use crate::intern::MsgId;
use crate::model::{fingerprint, Action, CheckModel, SysState};
use stateright::{Expectation, Model};
use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How one depth-first run explores.
#[derive(Clone, Copy, Debug)]
pub struct DfsOptions {
    /// Sleep-set reduction on.
    pub sleep_sets: bool,
    /// Random action order from this seed (`None`: the model's order).
    pub seed: Option<u64>,
    /// Stop after this many distinct states.
    pub max_states: Option<usize>,
    /// Do not expand states at this depth.
    pub max_depth: Option<usize>,
    /// Stop when the visited table would exceed this many bytes.
    pub max_bytes: Option<u64>,
    /// Stop at this instant.
    pub deadline: Option<Instant>,
    /// Key the table by plain fingerprints even with symmetry, and count
    /// the orbits of the states visited (the exactness check of
    /// [`crate::symmetry`]).
    pub count_orbits: bool,
}

/// Why a run stopped before exploring everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    States,
    Depth,
    Memory,
    Timeout,
    /// Another swarm worker found a violation first.
    Cancelled,
}

/// A path from an initial state: each state with the action taken from it.
pub type Path = Vec<(SysState, Option<Action>)>;

/// What one depth-first run found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Distinct states visited.
    pub states: usize,
    /// Transitions computed (successor states generated).
    pub transitions: usize,
    pub max_depth: usize,
    /// `None`: every reachable state was visited.
    pub cut: Option<Cut>,
    /// Failed `always` properties: name and the path to the failing state.
    pub failures: Vec<(&'static str, Path)>,
    /// `sometimes` properties that held somewhere.
    pub satisfied: Vec<&'static str>,
    /// Bytes of the visited table (fingerprints and stored sleep sets).
    pub table_bytes: u64,
    /// The seed of the run, if random.
    pub seed: Option<u64>,
    /// With `count_orbits`: distinct orbits among the states visited.
    pub orbits: Option<usize>,
}

/// A sleeping action, packed: kind in the low byte, actor, message id.
fn pack(a: &Action) -> u64 {
    match a {
        Action::Deliver { to, msg } => ((msg.0 as u64) << 24) | ((*to as u64) << 8),
        Action::Drop { to, msg } => ((msg.0 as u64) << 24) | ((*to as u64) << 8) | 1,
        Action::NextBallot { node } => ((*node as u64) << 8) | 2,
        Action::Restart { node } => ((*node as u64) << 8) | 3,
    }
}

fn actor_of(p: u64) -> u64 {
    (p >> 8) & 0xFFFF
}

/// The message id of a packed delivery or drop (`None` for other kinds).
fn msg_of(p: u64) -> Option<MsgId> {
    (p & 0xFF <= 1).then_some(MsgId((p >> 24) as u32))
}

/// A packed action with its actor and message replaced.
fn repack(p: u64, actor: usize, msg: Option<MsgId>) -> u64 {
    (p & 0xFF) | ((actor as u64) << 8) | msg.map_or(0, |m| (m.0 as u64) << 24)
}

/// The images of packed actions under permutation `k` of the model's
/// symmetry group (the identity, or no symmetry: unchanged).
fn rename(model: &CheckModel, z: &[u64], k: usize) -> Vec<u64> {
    let Some(sym) = model.sym.as_ref().filter(|_| k != 0) else {
        return z.to_vec();
    };
    let parts: Vec<(usize, Option<MsgId>)> = z
        .iter()
        .map(|p| (actor_of(*p) as usize, msg_of(*p)))
        .collect();
    sym.rename_actions(model, &parts, k)
        .into_iter()
        .zip(z)
        .map(|((a, m), p)| repack(*p, a, m))
        .collect()
}

/// What the table keeps per state: the shallowest depth it was expanded at
/// and the sleep set it was explored with (an index into [`SleepSets`]).
struct Seen {
    depth: u32,
    sleep: u32,
}

/// The distinct sleep sets of a run, each stored once (sorted packed
/// actions): most states share their sleep set with many others, so the
/// table keeps a 4-byte index per state instead of a set.
struct SleepSets {
    index: HashMap<Box<[u64]>, u32, ahash::RandomState>,
    list: Vec<Box<[u64]>>,
    bytes: u64,
}

impl SleepSets {
    fn new() -> SleepSets {
        let mut s = SleepSets {
            index: HashMap::default(),
            list: Vec::new(),
            bytes: 0,
        };
        s.intern(Vec::new());
        s
    }

    /// The index of the set of `z`'s actions.
    fn intern(&mut self, mut z: Vec<u64>) -> u32 {
        z.sort_unstable();
        z.dedup();
        if let Some(i) = self.index.get(z.as_slice()) {
            return *i;
        }
        let i = self.list.len() as u32;
        let b: Box<[u64]> = z.into();
        // The set twice (list and index key) and its entries' overhead.
        self.bytes += (b.len() * 16 + 48) as u64;
        self.list.push(b.clone());
        self.index.insert(b, i);
        i
    }

    fn get(&self, i: u32) -> &[u64] {
        self.list.get(i as usize).map_or(&[], |b| b)
    }
}

/// splitmix64: the explorer's own deterministic order shuffler.
struct Shuffle(u64);

impl Shuffle {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

struct Frame {
    state: SysState,
    via: Option<Action>,
    todo: Vec<Action>,
    next: usize,
    /// The current sleep set (packed), grown by each explored sibling.
    sleep: Vec<u64>,
}

/// Progress shared with the caller's progress loop.
#[derive(Debug, Default)]
pub struct Live {
    pub states: AtomicUsize,
    pub depth: AtomicUsize,
    pub seeds_done: AtomicUsize,
    pub stop: AtomicBool,
}

/// One depth-first run from the model's initial states.
pub fn dfs(model: &CheckModel, o: &DfsOptions, live: &Live) -> Outcome {
    let props = model.properties();
    let mut shuffle = o.seed.map(Shuffle);
    let mut table: HashMap<u64, Seen, ahash::RandomState> = HashMap::default();
    let mut sets = SleepSets::new();
    let mut out = Outcome {
        states: 0,
        transitions: 0,
        max_depth: 0,
        cut: None,
        failures: Vec::new(),
        satisfied: Vec::new(),
        table_bytes: 0,
        seed: o.seed,
        orbits: None,
    };
    let mut orbits: HashSet<u64> = HashSet::new();
    // Also the exactness check of `crate::dead`: the classes of states.
    let count_orbits = o.count_orbits && (model.sym.is_some() || model.dead);
    let entry_bytes = (std::mem::size_of::<(u64, Seen)>() + 1) as u64;
    let table_bytes = |t: &HashMap<u64, Seen, ahash::RandomState>, sets: &SleepSets| {
        t.capacity() as u64 * entry_bytes + sets.bytes
    };

    // Visits `s` reached at `depth` with sleep set `z`; returns the actions to
    // explore from it, or `None` when its stored exploration covers this one.
    let visit = |s: &SysState,
                 depth: usize,
                 z: &[u64],
                 table: &mut HashMap<u64, Seen, ahash::RandomState>,
                 sets: &mut SleepSets,
                 orbits: &mut HashSet<u64>|
     -> Option<(Vec<Action>, bool)> {
        // `k`: the permutation from `s` to its orbit's representative; the
        // table keeps sleep sets renamed by it (the representative's
        // actions), so that another member of the orbit compares its own
        // sleep set renamed by its own permutation.
        let (fp, k) = if count_orbits {
            (fingerprint(s), 0)
        } else {
            model.key_with_perm(s)
        };
        // Computed only when the state is to be expanded (most visits are
        // revisits that stop at the table).
        let actions = || {
            let mut all = Vec::new();
            model.actions(s, &mut all);
            all
        };
        let d = depth as u32;
        // Sorted, for the membership tests below.
        let zc = if z.is_empty() {
            Vec::new()
        } else {
            let mut v = rename(model, z, k);
            v.sort_unstable();
            v
        };
        let in_zc = |p: &u64| zc.binary_search(p).is_ok();
        match table.get_mut(&fp) {
            None => {
                if count_orbits {
                    orbits.insert(model.key(s));
                }
                let sleep = sets.intern(zc);
                table.insert(fp, Seen { depth: d, sleep });
                let mut all = actions();
                all.retain(|a| !z.contains(&pack(a)));
                Some((all, true))
            }
            Some(seen) if d < seen.depth => {
                // Met again closer to the root (only with a depth bound):
                // expand again with this path's sleep set.
                seen.depth = d;
                seen.sleep = sets.intern(zc);
                let mut all = actions();
                all.retain(|a| !z.contains(&pack(a)));
                Some((all, false))
            }
            Some(seen) => {
                let old = sets.get(seen.sleep);
                if old.iter().all(in_zc) {
                    return None;
                }
                // Explore what slept then and is awake now; keep the
                // intersection (both in the representative's names).
                let keep: Vec<u64> = old.iter().copied().filter(in_zc).collect();
                let wake: Vec<u64> = old.iter().copied().filter(|p| !in_zc(p)).collect();
                seen.sleep = sets.intern(keep);
                // Back to the names of `s`.
                let wake = rename(model, &wake, model.sym.as_ref().map_or(0, |y| y.inverse(k)));
                let mut all = actions();
                all.retain(|a| wake.contains(&pack(a)));
                Some((all, false))
            }
        }
    };

    let check_props =
        |s: &SysState, out: &mut Outcome, stack: &[Frame], via: Option<&Action>| -> bool {
            let mut failed = false;
            for p in &props {
                let holds = (p.condition)(model, s);
                match p.expectation {
                    Expectation::Always if !holds => {
                        if !out.failures.iter().any(|(n, _)| *n == p.name) {
                            let mut path: Vec<(SysState, Option<Action>)> =
                                stack.iter().map(|f| (f.state.clone(), None)).collect();
                            for (i, f) in stack.iter().enumerate().skip(1) {
                                path[i - 1].1 = f.via.clone();
                            }
                            if let Some(last) = path.last_mut() {
                                last.1 = via.cloned();
                            }
                            path.push((s.clone(), None));
                            out.failures.push((p.name, path));
                        }
                        failed = true;
                    }
                    Expectation::Sometimes if holds && !out.satisfied.contains(&p.name) => {
                        out.satisfied.push(p.name);
                    }
                    _ => {}
                }
            }
            failed
        };

    let mut reported = 0usize;
    let mut stack: Vec<Frame> = Vec::new();
    for init in model.init_states() {
        if !out.failures.is_empty() || out.cut.is_some() {
            break;
        }
        let Some((mut todo, fresh)) = visit(&init, 0, &[], &mut table, &mut sets, &mut orbits)
        else {
            continue;
        };
        if fresh {
            out.states += 1;
            if check_props(&init, &mut out, &stack, None) {
                break;
            }
        }
        if let Some(r) = shuffle.as_mut() {
            r.shuffle(&mut todo);
        }
        stack.push(Frame {
            state: init,
            via: None,
            todo,
            next: 0,
            sleep: Vec::new(),
        });
        while let Some(top) = stack.last_mut() {
            if top.next >= top.todo.len() {
                stack.pop();
                continue;
            }
            let t = top.todo[top.next].clone();
            top.next += 1;
            let depth = stack.len();
            if o.max_depth.is_some_and(|d| depth > d) {
                out.cut.get_or_insert(Cut::Depth);
                stack.pop();
                continue;
            }
            let Some(top) = stack.last_mut() else { break };
            out.transitions += 1;
            // Bounds are checked by transitions, not new states: a stretch
            // of revisits must not outlive the deadline.
            if out.transitions.is_multiple_of(1024) {
                live.states
                    .fetch_add(out.states - reported, Ordering::Relaxed);
                reported = out.states;
                live.depth.fetch_max(out.max_depth, Ordering::Relaxed);
                if live.stop.load(Ordering::Relaxed) {
                    out.cut = Some(Cut::Cancelled);
                    break;
                }
                if o.deadline.is_some_and(|d| Instant::now() >= d) {
                    out.cut = Some(Cut::Timeout);
                    break;
                }
                if o.max_bytes.is_some_and(|m| table_bytes(&table, &sets) >= m) {
                    out.cut = Some(Cut::Memory);
                    break;
                }
            }
            let Some(next) = model.next_state(&top.state, t.clone()) else {
                continue;
            };
            let pt = pack(&t);
            let child_sleep: Vec<u64> = if o.sleep_sets {
                let a = actor_of(pt);
                top.sleep
                    .iter()
                    .copied()
                    .filter(|u| actor_of(*u) != a)
                    .collect()
            } else {
                Vec::new()
            };
            if o.sleep_sets {
                top.sleep.push(pt);
            }
            let Some((mut todo, fresh)) = visit(
                &next,
                depth,
                &child_sleep,
                &mut table,
                &mut sets,
                &mut orbits,
            ) else {
                continue;
            };
            out.max_depth = out.max_depth.max(depth);
            if fresh {
                out.states += 1;
                let stack_ref: &[Frame] = &stack;
                if check_props(&next, &mut out, stack_ref, Some(&t)) {
                    break;
                }
                if o.max_states.is_some_and(|n| out.states >= n) {
                    out.cut = Some(Cut::States);
                    break;
                }
            }
            if let Some(r) = shuffle.as_mut() {
                r.shuffle(&mut todo);
            }
            stack.push(Frame {
                state: next,
                via: Some(t),
                todo,
                next: 0,
                sleep: child_sleep,
            });
        }
    }
    live.states
        .fetch_add(out.states - reported, Ordering::Relaxed);
    out.table_bytes = table_bytes(&table, &sets);
    if count_orbits {
        out.orbits = Some(orbits.len());
    }
    out
}

/// Swarm search: seeds `first..first + seeds`, each a random-order DFS
/// with at most `per_seed` states, spread over `threads` workers; stops at
/// the first violation. Returns every seed's outcome that ran, in seed
/// order (a complete seed ends the search: it explored everything).
pub fn swarm(
    model: &CheckModel,
    base: &DfsOptions,
    first: u64,
    seeds: u64,
    per_seed: usize,
    threads: usize,
    live: &Live,
) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for _ in 0..threads.max(1) {
            sc.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst) as u64;
                if k >= seeds || live.stop.load(Ordering::Relaxed) {
                    return;
                }
                let o = DfsOptions {
                    seed: Some(first.wrapping_add(k)),
                    max_states: Some(per_seed),
                    ..*base
                };
                let r = dfs(model, &o, live);
                live.seeds_done.fetch_add(1, Ordering::Relaxed);
                let done = !r.failures.is_empty() || r.cut.is_none();
                let timed_out = r.cut == Some(Cut::Timeout);
                if done || timed_out {
                    live.stop.store(true, Ordering::Relaxed);
                }
                match results.lock() {
                    Ok(mut v) => v.push(r),
                    Err(p) => p.into_inner().push(r),
                }
            });
        }
    });
    let mut v = match results.into_inner() {
        Ok(v) => v,
        Err(p) => p.into_inner(),
    };
    v.sort_by_key(|r| r.seed);
    v
}

/// Probability that some state was missed through a fingerprint collision.
pub fn collision_bound(states: usize) -> f64 {
    let n = states as f64;
    n * n / 2f64.powi(65)
}

/// A deadline `t` from now.
pub fn deadline(t: Option<Duration>) -> Option<Instant> {
    t.map(|t| Instant::now() + t)
}

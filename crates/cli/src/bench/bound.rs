//! From the measured [`Limits`] to the throughput bound and the latency
//! floor `hpaxos bench` prints beside what the cluster achieved.
//!
//! **Throughput bound.** With `A` acceptors, `N` node processes, `C` cores
//! shared by all of them, commands of `b` bytes (as encoded in a batch) and
//! `k` commands per slot (the configured `batch_max`), the cost of one
//! command is:
//!
//! - *disk*: every acceptor stores each command once, durably, and all of
//!   them share this machine's disk: `A·b / W` seconds, with `W` the
//!   measured sequential synced-write bandwidth;
//! - *CPU* (one core's seconds, summed over all processes): every node
//!   hashes the command's bytes once (`N·b / H`, `H` the SHA-256
//!   throughput); the bytes travel once from the proposer to every other
//!   node (`(N-1)·b / B`, `B` the loopback bandwidth of one connection,
//!   which includes the sender's and the receiver's copies); and per slot
//!   the 1c, the `A` 2av and the `A` 2b are each signed once and verified
//!   by the `N-1` other nodes, amortised over the `k` commands of the slot:
//!   `(1 + 2A)·(1/S + (N-1)/V) / k`, with `S` and `V` the Ed25519 signs and
//!   verifications per second of one core.
//!
//! The bound is `min(W / (A·b), C / cpu)`: what the machine allows an
//! ideal implementation of the protocol (each command's bytes stored once
//! per acceptor and sent once per node, messages signed once per slot).
//! The disk bound alone is printed too (the durable goal of issue 9 is
//! stated against it).
//!
//! **Latency floor.** The critical path of one command on an idle cluster
//! of the fast path (a stable proposer, Phase 1 done once): the client's
//! request to the node, 1c, 2av, 2b, and the answer to the client, five
//! one-way loopback delays (half the measured round trip); the three
//! messages each signed and verified once; and the three fsyncs the spec's
//! durability needs on that path (the acceptor's 2av and 2b records before
//! they are sent, the learner's decision before the client is answered):
//! `floor = 5·d + 3·(1/S + 1/V) + 3·f`, with `f` the median fsync latency
//! measured with one writer per acceptor syncing at once (the acceptors of
//! a slot sync together; a lone writer's sync is slower on this kind of
//! virtual disk, and is printed too). The leader runs that path by
//! default (range Phase 1, `[cluster] range_phase1`). The per-slot path
//! (`range_phase1 = false`, or a slot that falls back: 1a, 1b, 1c, 2av,
//! 2b, and the 1b's `maxBal` record fsynced too) has seven delays, five
//! signed messages and four fsyncs; its floor is printed as
//! `floor_current_path_ms` (the name is kept: it is a JSON field).

use super::limits::Limits;
use serde::Serialize;

/// The shape of the cluster the bound is computed for.
#[derive(Clone, Debug, Serialize)]
pub struct Model {
    pub acceptors: usize,
    pub nodes: usize,
    pub command_bytes: usize,
    pub commands_per_slot: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Bound {
    pub disk_commands_per_second: f64,
    pub cpu_commands_per_second: f64,
    pub bound_commands_per_second: f64,
    pub one_way_ms: f64,
    pub floor_ms: f64,
    pub floor_current_path_ms: f64,
    pub model: Model,
}

pub fn bound(l: &Limits, m: &Model) -> Bound {
    let a = m.acceptors.max(1) as f64;
    let n = m.nodes.max(1) as f64;
    let b = m.command_bytes.max(1) as f64;
    let k = m.commands_per_slot.max(1) as f64;
    let inv = |x: f64| if x > 0.0 { 1.0 / x } else { f64::INFINITY };
    let disk = l.synced_write_bytes_per_second / (a * b);
    let cpu_per_cmd = n * b * inv(l.sha256_bytes_per_second)
        + (n - 1.0) * b * inv(l.loopback_bytes_per_second)
        + (1.0 + 2.0 * a)
            * (inv(l.ed25519_sign_per_second) + (n - 1.0) * inv(l.ed25519_verify_per_second))
            / k;
    let cpu = l.cores.max(1) as f64 / cpu_per_cmd;
    let d = l.loopback_rtt_p50_ms / 2.0;
    let sv_ms = 1e3 * (inv(l.ed25519_sign_per_second) + inv(l.ed25519_verify_per_second));
    let f = l.fsync_concurrent_p50_ms;
    Bound {
        disk_commands_per_second: disk,
        cpu_commands_per_second: cpu,
        bound_commands_per_second: disk.min(cpu),
        one_way_ms: d,
        floor_ms: 5.0 * d + 3.0 * sv_ms + 3.0 * f,
        floor_current_path_ms: 7.0 * d + 5.0 * sv_ms + 4.0 * f,
        model: m.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formulas of the module doc on round numbers.
    #[test]
    fn bound_and_floor_follow_the_model() {
        let l = Limits {
            sig_message_bytes: 1024,
            ed25519_sign_per_second: 1e4,
            ed25519_verify_per_second: 1e4,
            sha256_bytes_per_second: 1e9,
            fsync_p50_ms: 2.0,
            fsync_samples: 1,
            fsync_concurrent_p50_ms: 1.0,
            writers: 4,
            synced_write_bytes_per_second: 4e8,
            loopback_rtt_p50_ms: 0.02,
            loopback_bytes_per_second: 1e9,
            cores: 2,
        };
        let m = Model {
            acceptors: 4,
            nodes: 4,
            command_bytes: 1000,
            commands_per_slot: 90,
        };
        let b = bound(&l, &m);
        assert!((b.disk_commands_per_second - 1e5).abs() < 1e-6);
        // 4 us hashing + 3 us transfer + 9 * 4e-4 / 90 s = 40 us signatures.
        let cpu = 2.0 / (4e-6 + 3e-6 + 40e-6);
        assert!((b.cpu_commands_per_second - cpu).abs() < 1e-3 * cpu);
        assert!((b.bound_commands_per_second - cpu.min(1e5)).abs() < 1e-3);
        assert!((b.floor_ms - (0.05 + 0.6 + 3.0)).abs() < 1e-9);
        assert!((b.floor_current_path_ms - (0.07 + 1.0 + 4.0)).abs() < 1e-9);
    }
}

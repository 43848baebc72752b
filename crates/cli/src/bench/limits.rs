//! The limits of this machine that bound the protocol, measured at the
//! start of `hpaxos bench` (before the cluster starts, so the nodes do not
//! compete with the measurements): Ed25519 signing and verification per
//! second on one core, SHA-256 throughput, fsync latency and sequential
//! synced-write bandwidth in the bench's data directory, loopback TCP
//! round trip and bandwidth.
//!
//! Each measurement is bounded in time (a few hundred milliseconds) and in
//! count, and cleans up after itself (the scratch file, the echo threads).
//! [`super::bound`] turns them into the throughput bound and latency floor.

use anyhow::Context;
use ed25519_dalek::{Signer, SigningKey, Verifier};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// What was measured (rates per second, latencies in milliseconds).
#[derive(Clone, Debug, Serialize)]
pub struct Limits {
    /// Size of the message signed and verified (a frame of the bench's
    /// typical size).
    pub sig_message_bytes: usize,
    pub ed25519_sign_per_second: f64,
    pub ed25519_verify_per_second: f64,
    pub sha256_bytes_per_second: f64,
    /// Median latency of a 512-byte append followed by `fdatasync` (a
    /// write-ahead-log commit of one small record).
    pub fsync_p50_ms: f64,
    pub fsync_samples: usize,
    /// The same with `writers` threads appending and syncing their own
    /// files at once, as the acceptors of one slot do (on this kind of
    /// virtual disk concurrent syncs are much faster than a lone one).
    pub fsync_concurrent_p50_ms: f64,
    pub writers: usize,
    /// 1 MiB writes, each followed by `fdatasync`.
    pub synced_write_bytes_per_second: f64,
    /// Median round trip of 64 bytes over a loopback TCP connection.
    pub loopback_rtt_p50_ms: f64,
    pub loopback_bytes_per_second: f64,
    /// CPU cores available to the cluster (all processes share them).
    pub cores: usize,
}

/// Runs `f` repeatedly for about `dur` (at most `max` times); returns the
/// count and the elapsed seconds.
fn timed(dur: Duration, max: u64, mut f: impl FnMut()) -> (u64, f64) {
    let t = Instant::now();
    let mut n = 0u64;
    while n < max && (!n.is_multiple_of(16) || t.elapsed() < dur) {
        f();
        n += 1;
    }
    (n, t.elapsed().as_secs_f64().max(1e-9))
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Measures everything; `dir` is where the nodes' data will live.
pub fn measure(dir: &Path, sig_message_bytes: usize, writers: usize) -> anyhow::Result<Limits> {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let msg = vec![0xA5u8; sig_message_bytes.max(1)];
    let d = Duration::from_millis(300);
    let (n, s) = timed(d, 1_000_000, || {
        std::hint::black_box(key.sign(std::hint::black_box(&msg)));
    });
    let sign = n as f64 / s;
    let sig = key.sign(&msg);
    let vk = key.verifying_key();
    let (n, s) = timed(d, 1_000_000, || {
        let ok = vk.verify(std::hint::black_box(&msg), &sig).is_ok();
        std::hint::black_box(ok);
    });
    let verify = n as f64 / s;
    let buf = vec![0x5Au8; 1 << 20];
    let (n, s) = timed(Duration::from_millis(200), 10_000, || {
        std::hint::black_box(Sha256::digest(std::hint::black_box(&buf)));
    });
    let sha = n as f64 * buf.len() as f64 / s;
    let (fsync_p50_ms, fsync_samples, synced) = disk(dir)?;
    let writers = writers.clamp(1, 64);
    let fsync_concurrent_p50_ms = concurrent_fsync(dir, writers)?;
    let (rtt, bw) = loopback()?;
    Ok(Limits {
        sig_message_bytes,
        ed25519_sign_per_second: sign,
        ed25519_verify_per_second: verify,
        sha256_bytes_per_second: sha,
        fsync_p50_ms,
        fsync_samples,
        fsync_concurrent_p50_ms,
        writers,
        synced_write_bytes_per_second: synced,
        loopback_rtt_p50_ms: rtt,
        loopback_bytes_per_second: bw,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}

/// fsync latency (median of a 512-byte append + fdatasync) and synced sequential
/// write bandwidth (1 MiB writes, each made durable), in `dir`.
fn disk(dir: &Path) -> anyhow::Result<(f64, usize, f64)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("bench-disk-probe");
    let r = (|| -> std::io::Result<(f64, usize, f64)> {
        let mut f = std::fs::File::create(&path)?;
        let small = vec![1u8; 512];
        let mut lat = Vec::new();
        let t = Instant::now();
        while lat.len() < 400 && t.elapsed() < Duration::from_millis(400) {
            let s = Instant::now();
            f.write_all(&small)?;
            f.sync_data()?;
            lat.push(s.elapsed().as_secs_f64() * 1e3);
        }
        let big = vec![2u8; 1 << 20];
        let mut bytes = 0usize;
        let t = Instant::now();
        while bytes < (256 << 20) && t.elapsed() < Duration::from_millis(600) {
            f.write_all(&big)?;
            f.sync_data()?;
            bytes += big.len();
        }
        let bw = bytes as f64 / t.elapsed().as_secs_f64().max(1e-9);
        let n = lat.len();
        Ok((median_ms(lat), n, bw))
    })();
    let _ = std::fs::remove_file(&path);
    r.with_context(|| format!("measuring the disk in {}", dir.display()))
}

/// Median latency of 512-byte append + fdatasync with `writers` threads
/// doing it at once, each on its own file in `dir`.
fn concurrent_fsync(dir: &Path, writers: usize) -> anyhow::Result<f64> {
    let threads: Vec<_> = (0..writers)
        .map(|i| {
            let path = dir.join(format!("bench-disk-probe-{i}"));
            std::thread::spawn(move || -> std::io::Result<Vec<f64>> {
                let r = (|| {
                    let mut f = std::fs::File::create(&path)?;
                    let small = vec![1u8; 512];
                    let mut lat = Vec::new();
                    let t = Instant::now();
                    while lat.len() < 400 && t.elapsed() < Duration::from_millis(400) {
                        let s = Instant::now();
                        f.write_all(&small)?;
                        f.sync_data()?;
                        lat.push(s.elapsed().as_secs_f64() * 1e3);
                    }
                    Ok(lat)
                })();
                let _ = std::fs::remove_file(&path);
                r
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        match t.join() {
            Ok(r) => {
                all.extend(r.with_context(|| format!("measuring the disk in {}", dir.display()))?)
            }
            Err(_) => anyhow::bail!("disk probe thread panicked"),
        }
    }
    Ok(median_ms(all))
}

/// Loopback TCP: median round trip of 64-byte ping-pongs, and the bandwidth
/// of one connection streaming 256 KiB writes.
fn loopback() -> anyhow::Result<(f64, f64)> {
    let l = TcpListener::bind("127.0.0.1:0").context("loopback probe: bind")?;
    let addr = l.local_addr()?;
    // The echo/sink side; it ends when the client closes its connections.
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = l.accept()?;
        s.set_nodelay(true)?;
        let mut b = [0u8; 64];
        while s.read_exact(&mut b).is_ok() {
            s.write_all(&b)?;
        }
        let (mut s, _) = l.accept()?;
        let mut b = vec![0u8; 256 << 10];
        while s.read(&mut b)? > 0 {}
        s.write_all(b"k")?;
        Ok(())
    });
    let mut c = TcpStream::connect(addr).context("loopback probe: connect")?;
    c.set_nodelay(true)?;
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut b = [3u8; 64];
    let mut rtt = Vec::new();
    let t = Instant::now();
    while rtt.len() < 20_000 && t.elapsed() < Duration::from_millis(300) {
        let s = Instant::now();
        c.write_all(&b)?;
        c.read_exact(&mut b)?;
        rtt.push(s.elapsed().as_secs_f64() * 1e3);
    }
    drop(c);
    let mut c = TcpStream::connect(addr).context("loopback probe: connect")?;
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    let chunk = vec![4u8; 256 << 10];
    let mut bytes = 0usize;
    let t = Instant::now();
    while bytes < (4 << 30) && t.elapsed() < Duration::from_millis(300) {
        c.write_all(&chunk)?;
        bytes += chunk.len();
    }
    c.shutdown(std::net::Shutdown::Write)?;
    let mut k = [0u8; 1];
    c.read_exact(&mut k)?;
    let bw = bytes as f64 / t.elapsed().as_secs_f64().max(1e-9);
    match server.join() {
        Ok(r) => r.context("loopback probe: server")?,
        Err(_) => anyhow::bail!("loopback probe: server thread panicked"),
    }
    Ok((median_ms(rtt), bw))
}

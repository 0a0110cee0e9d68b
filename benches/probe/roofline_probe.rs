//! The machine's limits for the roofline in benches/README.md (compiled and run by
//! benches/bench_roofline.py; std only, one file, built with `rustc -O`).
//!
//! Measures, on one core and on every core at once (each thread its own data):
//! - the peak rate of double-precision vector additions (AVX2 when the CPU has it: 12 independent
//!   accumulators, so the adder's latency is hidden and only its throughput counts);
//! - read bandwidth (sum of a buffer, 4 independent accumulators) at sizes that sit in L1, L2,
//!   the last-level cache and memory;
//! - "add into" bandwidth, `y[i] += x[i]` (two reads and one write per element): the kernel's own
//!   inner operation (a prefix row added to a simulation's accumulator), at the same sizes.
//!
//! Prints one line per measure: `name<TAB>threads<TAB>value<TAB>unit`. Each measure repeats its
//! loop until at least `--secs` seconds of each thread's CPU time have passed (rates are per
//! CPU-second: on a shared machine the other processes' share of the cores does not count) and
//! keeps the best of three such runs (the one least disturbed by the others' use of the caches).

use std::hint::black_box;
use std::time::Instant;

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    /// `iters` × 12 vector additions (4 doubles each) on independent accumulators.
    #[target_feature(enable = "avx2")]
    pub unsafe fn adds(iters: u64, seed: f64) -> f64 {
        let inc = _mm256_set1_pd(1e-300);
        let mut a = [_mm256_set1_pd(seed); 12];
        for _ in 0..iters {
            for v in a.iter_mut() {
                *v = _mm256_add_pd(*v, inc);
            }
        }
        let mut s = _mm256_setzero_pd();
        for v in a {
            s = _mm256_add_pd(s, v);
        }
        let mut out = [0.0; 4];
        _mm256_storeu_pd(out.as_mut_ptr(), s);
        out.iter().sum()
    }

    /// Sum of `x` (length a multiple of 16) with 4 vector accumulators.
    #[target_feature(enable = "avx2")]
    pub unsafe fn read(x: &[f64]) -> f64 {
        let mut a = [_mm256_setzero_pd(); 4];
        let p = x.as_ptr();
        let mut i = 0;
        while i + 16 <= x.len() {
            for (j, v) in a.iter_mut().enumerate() {
                *v = _mm256_add_pd(*v, _mm256_loadu_pd(p.add(i + 4 * j)));
            }
            i += 16;
        }
        let s = _mm256_add_pd(_mm256_add_pd(a[0], a[1]), _mm256_add_pd(a[2], a[3]));
        let mut out = [0.0; 4];
        _mm256_storeu_pd(out.as_mut_ptr(), s);
        out.iter().sum()
    }

    /// `y += x` (equal lengths, a multiple of 4).
    #[target_feature(enable = "avx2")]
    pub unsafe fn add_into(y: &mut [f64], x: &[f64]) {
        let (py, px) = (y.as_mut_ptr(), x.as_ptr());
        let mut i = 0;
        while i + 4 <= y.len().min(x.len()) {
            let v = _mm256_add_pd(_mm256_loadu_pd(py.add(i)), _mm256_loadu_pd(px.add(i)));
            _mm256_storeu_pd(py.add(i), v);
            i += 4;
        }
    }
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn adds(iters: u64, seed: f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2 (checked).
        return unsafe { avx::adds(iters, seed) };
    }
    let mut a = [seed; 16];
    for _ in 0..iters * 3 {
        for v in a.iter_mut() {
            *v += 1e-300;
        }
    }
    a.iter().sum()
}

fn read(x: &[f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: as above.
        return unsafe { avx::read(x) };
    }
    x.iter().sum()
}

fn add_into(y: &mut [f64], x: &[f64]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: as above.
        return unsafe { avx::add_into(y, x) };
    }
    for (a, b) in y.iter_mut().zip(x) {
        *a += b;
    }
}

/// This thread's time on a CPU in seconds (Linux: /proc/thread-self/schedstat), so that a rate
/// is per CPU-second and a shared machine's other processes do not lower it; elsewhere None (then
/// wall time is used).
fn cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

/// Seconds since `t0` (wall) or of CPU since `c0`.
fn spent(t0: Instant, c0: Option<f64>) -> f64 {
    match (c0, cpu_secs()) {
        (Some(a), Some(b)) => b - a,
        _ => t0.elapsed().as_secs_f64(),
    }
}

/// Run `f` on `threads` threads at once (each with its own state from `make`), each repeating its
/// step until `secs` of its CPU time have passed; returns the total work per CPU-second summed over
/// the threads (work units as `f` returns them), best of 3.
fn rate<S: Send>(threads: usize, secs: f64, make: impl Fn() -> S + Sync, f: impl Fn(&mut S) -> f64 + Sync) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..3 {
        let barrier = std::sync::Barrier::new(threads);
        let total: f64 = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut st = make();
                        f(&mut st); // warm: pages touched, caches filled
                        barrier.wait();
                        let (t0, c0) = (Instant::now(), cpu_secs());
                        let mut work = 0.0;
                        while spent(t0, c0) < secs {
                            work += f(&mut st);
                        }
                        work / spent(t0, c0)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
        });
        best = best.max(total);
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: f64| -> f64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let secs = arg("--secs", 0.2);
    let max_threads =
        arg("--threads", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64) as usize;
    let mem_mib = arg("--mem-mib", 1024.0) as usize;
    println!("avx2\t0\t{}\tflag", u8::from(has_avx2()));
    let mut thread_counts = vec![1];
    if max_threads > 1 {
        thread_counts.push(max_threads);
    }
    for &th in &thread_counts {
        let iters = 1u64 << 16;
        let r =
            rate(th, secs, || 0.5f64, |seed| black_box(adds(black_box(iters), *seed)).min(0.0) + (iters * 48) as f64);
        println!("peak_add\t{th}\t{:.4e}\tadds/s", r);
        // Sizes per thread: L1 (16 KiB), L2 (512 KiB), LLC (16 MiB), memory (the rest of --mem-mib).
        let sizes: [(&str, usize); 4] =
            [("L1", 16 << 10), ("L2", 512 << 10), ("LLC", 16 << 20), ("memory", (mem_mib << 20) / th)];
        for (name, bytes) in sizes {
            let n = (bytes / 8) & !15;
            // Small buffers are swept several times per step, so that reading the clock stays rare.
            let reps = (4 << 20) / bytes.max(1) + 1;
            let r = rate(
                th,
                secs,
                || vec![1.0f64; n],
                |x| (0..reps).map(|_| black_box(read(x)).min(0.0)).sum::<f64>() + (reps * n * 8) as f64,
            );
            println!("read_{name}\t{th}\t{:.4e}\tbytes/s", r);
            // y += x over two arrays of half the size each: the same bytes touched in total.
            let h = (n / 2) & !15;
            let r = rate(
                th,
                secs,
                || (vec![0.0f64; h], vec![1e-300f64; h]),
                |(y, x)| {
                    for _ in 0..reps {
                        add_into(y, x);
                        black_box(&y);
                    }
                    (reps * h) as f64 // elements added (3 × 8 bytes moved each: 2 reads, 1 write)
                },
            );
            println!("add_into_{name}\t{th}\t{:.4e}\tadds/s", r);
        }
    }
}

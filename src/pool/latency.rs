//! Latency distributions: queue wait (submit → start) and run time, as small fixed-bucket
//! log-scale histograms over a rotating window, summarised as [`LatencySummary`] in
//! `PoolMetrics::queue_wait` and `PoolMetrics::run_time`.
//!
//! * **Buckets.** [`BUCKETS`] buckets, each √2 wider than the one before, from 1 µs: bucket 0
//!   holds everything under 1 µs, bucket `i` (≥ 1) the durations in `[2^((i−1)/2), 2^(i/2))` µs,
//!   the last one everything from about 36 minutes (2^31 µs) up. A percentile is read as the geometric
//!   middle of its bucket (within ±19 % of any value in it), clamped to the smallest and largest
//!   durations recorded, which are kept exactly.
//! * **Window.** Two histograms, the current window's and the one before; a record or a read
//!   that finds the current window over ([`WINDOW`]) rotates them. A summary merges both: it
//!   covers the last one to two windows.
//! * **Sampling (thread pool).** Timing every job costs two clock reads (~2 × 20 ns) on a path
//!   that takes ~250 ns per job in a burst; a thread pool times one job in [`SAMPLE_EVERY`],
//!   decided at submit by a thread-local counter, and only a sampled job carries its submit
//!   instant (its closure is wrapped: `Registry::push`). Jobs submitted with `execute` are not
//!   sampled (a refused one hands its own closure back). The process pool times every job: its
//!   clock reads happen under its state lock, beside a process round trip.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How many buckets a histogram has: √2 steps from 1 µs reach about 36 minutes (2^31 µs) at the last one.
pub(crate) const BUCKETS: usize = 64;

/// How long one window lasts. Trade-off: a summary covers the last 1–2 windows, so a longer
/// window gives more samples (steadier percentiles, at a sampled 1 job in 64) but reacts later
/// to a change of load; 10 s follows a dashboard's polling while holding ~150 samples a second
/// of a 10k-jobs/s pool.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);

/// A thread pool times one job in this many submitted by each thread. Trade-off: a sampled job
/// costs ~3 clock reads, an `Arc` clone and an uncontended lock (~100–150 ns); at 1 in 64 that
/// is ~2 ns per job averaged over a 250 ns-per-job burst (within the benchmarks' noise), while
/// 1 in 16 would cost ~4 % there. The price: a summary needs 64 jobs for its first sample, and
/// a short window of a slow pool holds few samples.
pub(crate) const SAMPLE_EVERY: u32 = 64;

/// The distribution of a duration over the last one to two windows (10 s each), from
/// [`PoolMetrics::queue_wait`](crate::PoolMetrics::queue_wait) and
/// [`PoolMetrics::run_time`](crate::PoolMetrics::run_time).
///
/// A thread pool times one job in 64 submitted by each thread (the first one of each thread
/// included), a process pool every job. The percentiles come from a log-scale histogram with
/// buckets √2 wide from 1 µs, so each is within about ±19 % of the true value (and never
/// outside the smallest and largest durations recorded); `max` is exact.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use poolbridge::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(2);
/// let futures: Vec<_> = (0..64)
///     .map(|_| pool.submit(|| std::thread::sleep(Duration::from_millis(1))))
///     .collect();
/// futures.iter().for_each(|f| f.wait());
/// // At least one job of the 64 was timed.
/// let run = pool.metrics().run_time.expect("a sampled job");
/// assert!(run.samples >= 1);
/// assert!(run.p50 <= run.p99 && run.p99 <= run.max);
/// assert!(run.max >= Duration::from_millis(1));
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The largest duration recorded (exact).
    pub max: Duration,
    /// How many durations the summary is made of (sampled jobs, for a thread pool).
    pub samples: u64,
}

/// `LOWER[k]`: where bucket `k + 1` starts, in nanoseconds: `1 µs · 2^(k/2)`, rounded up (√2 to
/// 18 digits: exact to the nanosecond at every start).
const LOWER: [u64; BUCKETS - 1] = lower_bounds();

const fn lower_bounds() -> [u64; BUCKETS - 1] {
    let mut out = [0u64; BUCKETS - 1];
    let mut k = 0;
    while k < BUCKETS - 1 {
        let whole = 1_000u128 << (k / 2);
        out[k] = if k % 2 == 0 {
            whole as u64
        } else {
            // √2 ≈ 1.414213562373095049: whole · √2 · 10^18 / 10^18, rounded up.
            (whole * 1_414_213_562_373_095_049).div_ceil(1_000_000_000_000_000_000) as u64
        };
        k += 1;
    }
    out
}

/// The bucket of a duration of `nanos` nanoseconds: how many bucket starts it has reached (a
/// binary search of [`LOWER`], six comparisons, no floating point: this runs under a process
/// pool's state lock twice per job).
fn bucket(nanos: u64) -> usize {
    LOWER.partition_point(|&start| start <= nanos)
}

/// The geometric middle of bucket `i`, in nanoseconds.
fn middle(i: usize) -> f64 {
    if i == 0 {
        return 500.0;
    }
    // [2^((i−1)/2), 2^(i/2)) µs: its geometric middle is 2^((2i−1)/4) µs.
    1_000.0 * ((2 * i - 1) as f64 / 4.0).exp2()
}

/// One window's durations.
#[derive(Clone, Debug)]
pub(crate) struct Histogram {
    counts: [u32; BUCKETS],
    samples: u64,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: [0; BUCKETS],
            samples: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

impl Histogram {
    pub(crate) fn record(&mut self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let b = &mut self.counts[bucket(nanos)];
        *b = b.saturating_add(1);
        self.samples += 1;
        self.min = self.min.min(nanos);
        self.max = self.max.max(nanos);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
        self.samples += other.samples;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The `q`-quantile (0 < q ≤ 1), by nearest rank; `None` when empty.
    fn quantile(&self, q: f64) -> Option<Duration> {
        let total: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                let nanos = (middle(i) as u64).clamp(self.min, self.max);
                return Some(Duration::from_nanos(nanos));
            }
        }
        unreachable!("rank is at most the total")
    }

    pub(crate) fn summary(&self) -> Option<LatencySummary> {
        Some(LatencySummary {
            p50: self.quantile(0.50)?,
            p90: self.quantile(0.90)?,
            p99: self.quantile(0.99)?,
            max: Duration::from_nanos(self.max),
            samples: self.samples,
        })
    }
}

/// A histogram over a rotating window: the current window's and the previous one's.
#[derive(Debug)]
pub(crate) struct Windowed {
    /// When window 0 began.
    origin: Instant,
    /// The number of the current window.
    epoch: u64,
    /// When the current window ends: a record before it (nearly all) compares two instants and
    /// does no division.
    ends: Instant,
    current: Histogram,
    previous: Histogram,
}

impl Windowed {
    pub(crate) fn new(origin: Instant) -> Windowed {
        Windowed {
            origin,
            epoch: 0,
            ends: origin + WINDOW,
            current: Histogram::default(),
            previous: Histogram::default(),
        }
    }

    /// Moves to the window of `now`.
    fn rotate(&mut self, now: Instant) {
        if now < self.ends {
            return;
        }
        let epoch = (now.saturating_duration_since(self.origin).as_nanos() / WINDOW.as_nanos())
            .try_into()
            .unwrap_or(u64::MAX);
        if epoch <= self.epoch {
            return;
        }
        self.previous = if epoch == self.epoch + 1 {
            std::mem::take(&mut self.current)
        } else {
            Histogram::default()
        };
        self.current = Histogram::default();
        self.epoch = epoch;
        self.ends = u32::try_from(epoch + 1)
            .ok()
            .and_then(|n| self.origin.checked_add(WINDOW * n))
            .unwrap_or(now + WINDOW);
    }

    /// Records `d`, measured at `now`.
    pub(crate) fn record(&mut self, now: Instant, d: Duration) {
        self.rotate(now);
        self.current.record(d);
    }

    /// The summary of the last one to two windows, as of `now`; `None` without a sample.
    pub(crate) fn summary(&mut self, now: Instant) -> Option<LatencySummary> {
        self.rotate(now);
        let mut both = self.previous.clone();
        both.merge(&self.current);
        both.summary()
    }
}

/// Queue wait and run time of one pool.
#[derive(Debug)]
pub(crate) struct Latencies {
    pub(crate) queue_wait: Windowed,
    pub(crate) run_time: Windowed,
}

impl Latencies {
    pub(crate) fn new() -> Latencies {
        let origin = Instant::now();
        Latencies {
            queue_wait: Windowed::new(origin),
            run_time: Windowed::new(origin),
        }
    }

    /// `(queue_wait, run_time)` as of now.
    pub(crate) fn summaries(&mut self) -> (Option<LatencySummary>, Option<LatencySummary>) {
        let now = Instant::now();
        (self.queue_wait.summary(now), self.run_time.summary(now))
    }
}

/// A thread pool's latencies, shared with its sampled jobs (which record into it from their
/// workers: one in [`SAMPLE_EVERY`] jobs, so the lock is rarely contended).
pub(crate) type Shared = Arc<Mutex<Latencies>>;

/// A new, empty [`Shared`].
pub(crate) fn shared() -> Shared {
    Arc::new(Mutex::new(Latencies::new()))
}

thread_local! {
    /// Jobs this thread submitted (wrapping), for [`sample`].
    static SUBMITS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether the job this thread submits now is timed: one in [`SAMPLE_EVERY`], from the first.
#[inline]
pub(crate) fn sample() -> bool {
    SUBMITS
        .try_with(|n| {
            let k = n.get();
            n.set(k.wrapping_add(1));
            k % SAMPLE_EVERY == 0
        })
        .unwrap_or(false)
}

/// `f`, timed: it records its queue wait (from `submitted`, now) and its run time into `stats`.
/// A job that panics records its queue wait only.
pub(crate) fn timed<F, T>(f: F, stats: Shared) -> impl FnOnce() -> T + Send + 'static
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let submitted = Instant::now();
    move || {
        let start = Instant::now();
        stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .queue_wait
            .record(start, start.saturating_duration_since(submitted));
        let value = f();
        let end = Instant::now();
        stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .run_time
            .record(end, end.saturating_duration_since(start));
        value
    }
}

/// `(queue_wait, run_time)` of a thread pool, now.
pub(crate) fn read(stats: &Shared) -> (Option<LatencySummary>, Option<LatencySummary>) {
    stats
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .summaries()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn buckets_are_sqrt2_wide_from_one_microsecond() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(999), 0);
        assert_eq!(bucket(1_000), 1);
        assert_eq!(bucket(1_414), 1);
        assert_eq!(bucket(1_415), 2);
        assert_eq!(bucket(2_000), 3);
        assert_eq!(bucket(1_000_000), 20); // 1 ms: 19.93 half steps above 1 µs
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        // Every bucket's middle falls in that bucket.
        for i in 1..BUCKETS - 1 {
            assert_eq!(bucket(middle(i) as u64), i, "bucket {i}");
        }
    }

    #[test]
    fn bucket_table_matches_the_formula() {
        // The half steps of log2(µs), as floating point reads them, away from the edges (where
        // the two roundings may differ by a nanosecond).
        let by_formula = |nanos: u64| -> usize {
            if nanos < 1_000 {
                return 0;
            }
            let half_steps = (2.0 * (nanos as f64 / 1_000.0).log2()).floor() as usize;
            (half_steps + 1).min(BUCKETS - 1)
        };
        let mut nanos = 1u64;
        while nanos < u64::MAX / 3 {
            for probe in [nanos, nanos + nanos / 7, nanos * 2 - 1] {
                let near_edge = LOWER.iter().any(|&s| s.abs_diff(probe) <= 1);
                if !near_edge {
                    assert_eq!(bucket(probe), by_formula(probe), "{probe} ns");
                }
            }
            nanos = nanos * 3 / 2 + 1;
        }
        // The edges themselves.
        for (k, &start) in LOWER.iter().enumerate() {
            assert_eq!(bucket(start), k + 1, "start of bucket {}", k + 1);
            assert_eq!(bucket(start - 1), k, "end of bucket {k}");
        }
    }

    #[test]
    fn empty_has_no_summary() {
        assert_eq!(Histogram::default().summary(), None);
        let mut w = Windowed::new(Instant::now());
        assert_eq!(w.summary(Instant::now()), None);
    }

    #[test]
    fn percentiles_of_a_uniform_spread_are_within_a_bucket() {
        let mut h = Histogram::default();
        for i in 1..=1000 {
            h.record(Duration::from_micros(i * 10)); // 10 µs .. 10 ms
        }
        let s = h.summary().unwrap();
        assert_eq!(s.samples, 1000);
        assert_eq!(s.max, ms(10));
        let near = |got: Duration, want: Duration| {
            let r = got.as_secs_f64() / want.as_secs_f64();
            assert!((0.7..=1.42).contains(&r), "{got:?} vs {want:?}");
        };
        near(s.p50, ms(5));
        near(s.p90, ms(9));
        near(s.p99, Duration::from_micros(9_900));
        assert!(s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max);
    }

    #[test]
    fn one_value_reads_exactly() {
        let mut h = Histogram::default();
        for _ in 0..10 {
            h.record(Duration::from_micros(2_060));
        }
        let s = h.summary().unwrap();
        let exact = Duration::from_micros(2_060);
        assert_eq!((s.p50, s.p90, s.p99, s.max), (exact, exact, exact, exact));
    }

    #[test]
    fn tail_shows_in_p99_not_p50() {
        let mut h = Histogram::default();
        for _ in 0..980 {
            h.record(ms(1));
        }
        for _ in 0..20 {
            h.record(ms(100));
        }
        let s = h.summary().unwrap();
        assert_eq!(s.p50, ms(1));
        assert_eq!(s.p90, ms(1));
        assert!(s.p99 >= ms(80), "{:?}", s.p99);
        assert_eq!(s.max, ms(100));
    }

    #[test]
    fn windows_rotate_and_age_out() {
        let t0 = Instant::now();
        let mut w = Windowed::new(t0);
        w.record(t0, ms(1));
        assert_eq!(w.summary(t0).unwrap().samples, 1);
        // Next window: the previous one still counts.
        let t1 = t0 + WINDOW;
        w.record(t1, ms(3));
        let s = w.summary(t1).unwrap();
        assert_eq!((s.samples, s.max), (2, ms(3)));
        // Two windows on: only the second window's sample is left.
        let t2 = t0 + 2 * WINDOW;
        let s = w.summary(t2).unwrap();
        assert_eq!((s.samples, s.max), (1, ms(3)));
        // Long idle: nothing left.
        assert_eq!(w.summary(t0 + 10 * WINDOW), None);
    }

    #[test]
    fn sampling_takes_the_first_and_one_in_sample_every() {
        std::thread::spawn(|| {
            let picked = (0..SAMPLE_EVERY * 4).filter(|_| sample()).count();
            assert_eq!(picked, 4);
        })
        .join()
        .unwrap();
        std::thread::spawn(|| assert!(sample(), "a thread's first submit is sampled"))
            .join()
            .unwrap();
    }
}

//! `PoolMetrics::queue_wait` and `run_time` (issue 20): sampled jobs, percentiles over a window.

use std::thread;
use std::time::Duration;

use poolbridge::{LatencySummary, ThreadPoolExecutor};

/// Submits `n` jobs from a fresh thread (whose sampling counter starts at 0: jobs 0, 64, 128,
/// … are timed), each running `job`; `one_at_a_time` waits for each before the next.
fn submit_from_fresh_thread(pool: &ThreadPoolExecutor, n: usize, one_at_a_time: bool, job: fn()) {
    thread::scope(|s| {
        s.spawn(|| {
            let mut futures = Vec::new();
            for _ in 0..n {
                let f = pool.submit(job);
                if one_at_a_time {
                    f.wait();
                } else {
                    futures.push(f);
                }
            }
            futures.iter().for_each(|f| f.wait());
        });
    });
}

fn summary(s: Option<LatencySummary>, what: &str) -> LatencySummary {
    s.unwrap_or_else(|| panic!("no {what} summary"))
}

#[test]
fn run_time_p50_of_2ms_jobs_is_about_2ms() {
    let pool = ThreadPoolExecutor::new(4);
    let m = pool.metrics();
    assert_eq!((m.queue_wait, m.run_time), (None, None), "nothing ran yet");

    submit_from_fresh_thread(&pool, 1000, false, || {
        thread::sleep(Duration::from_millis(2))
    });
    let run = summary(pool.metrics().run_time, "run time");
    // One job in 64 from the submitting thread: jobs 0, 64, …, 960.
    assert_eq!(run.samples, 16, "{run:?}");
    assert!(
        run.p50 >= Duration::from_micros(1_500) && run.p50 <= Duration::from_millis(50),
        "p50 of 2 ms sleeps: {run:?}"
    );
    assert!(
        run.p50 <= run.p90 && run.p90 <= run.p99 && run.p99 <= run.max,
        "{run:?}"
    );
    assert!(run.max >= Duration::from_millis(2), "{run:?}");
    let wait = summary(pool.metrics().queue_wait, "queue wait");
    assert_eq!(wait.samples, 16, "{wait:?}");
}

#[test]
fn queue_wait_grows_when_the_pool_is_saturated() {
    // Idle: one job at a time, each waited for; a worker takes it at once.
    let idle = ThreadPoolExecutor::new(1);
    submit_from_fresh_thread(&idle, 640, true, || ());
    let idle_wait = summary(idle.metrics().queue_wait, "idle queue wait");
    assert_eq!(idle_wait.samples, 10, "{idle_wait:?}");

    // Saturated: 640 jobs of 200 µs queued at once on one thread; the k-th waits ~k × 200 µs.
    let busy = ThreadPoolExecutor::new(1);
    submit_from_fresh_thread(&busy, 640, false, || {
        thread::sleep(Duration::from_micros(200))
    });
    let busy_wait = summary(busy.metrics().queue_wait, "saturated queue wait");
    assert_eq!(busy_wait.samples, 10, "{busy_wait:?}");

    assert!(
        busy_wait.p50 >= Duration::from_millis(20),
        "saturated p50 {busy_wait:?}"
    );
    assert!(
        busy_wait.p50 > idle_wait.p50 * 10,
        "saturated {busy_wait:?} vs idle {idle_wait:?}"
    );
    assert!(
        busy_wait.max > idle_wait.max,
        "saturated {busy_wait:?} vs idle {idle_wait:?}"
    );
}

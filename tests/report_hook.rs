//! Reports of caught panics go to a hook when one is set (issue 13, item 16): a panicking done
//! callback, a panicking initializer (which breaks the pool), the panicking drop of a cancelled
//! job's closure. A hook that panics itself is caught too (its report falls back to stderr) and
//! kills nothing; `take_report_hook` restores stderr.
//!
//! The hook is process-wide, so this binary holds one test that walks through the cases in order.

mod common;

use std::sync::{Arc, Mutex};

use common::{HANG, busy_pool, eventually};
use poolbridge::{ThreadPoolExecutor, set_report_hook, take_report_hook};

/// What the hook saw: (what, consequence, message).
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

fn capture() -> Seen {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    set_report_hook(move |report| {
        assert!(report.to_string().contains(report.message()));
        sink.lock().unwrap().push((
            report.what().to_owned(),
            report.consequence().to_owned(),
            report.message().to_owned(),
        ));
    });
    seen
}

fn take(seen: &Seen) -> Vec<(String, String, String)> {
    std::mem::take(&mut *seen.lock().unwrap())
}

/// A closure capture whose drop panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropping the closure failed");
    }
}

#[test]
fn reports_go_to_the_hook() {
    let seen = capture();

    // 1. A panicking done callback, run on a worker: reported, and the next callback still runs.
    let pool = ThreadPoolExecutor::new(1);
    let (tx, rx) = std::sync::mpsc::channel();
    let (pool_busy, gate) = busy_pool();
    let fut = pool_busy.submit(|| 1);
    fut.add_done_callback(|_| panic!("callback bug"));
    fut.add_done_callback(move |f| tx.send(f.result()).unwrap());
    gate.open();
    assert_eq!(rx.recv_timeout(HANG).unwrap(), Ok(1));
    assert!(eventually(|| !seen.lock().unwrap().is_empty()));
    let reports = take(&seen);
    assert_eq!(reports.len(), 1, "{reports:?}");
    let (what, then, message) = &reports[0];
    assert!(what.contains("done callback"), "{what}");
    assert!(then.contains("goes on"), "{then}");
    assert_eq!(message, "callback bug");

    // 2. A panicking initializer: reported, and the pool is broken.
    let broken = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("init")
        .initializer(|| panic!("no config file"))
        .build()
        .unwrap();
    let err = broken.submit(|| 1).result_timeout(HANG).unwrap_err();
    assert!(err.is_broken_pool());
    assert!(eventually(|| !seen.lock().unwrap().is_empty()));
    let reports = take(&seen);
    assert_eq!(reports.len(), 1, "{reports:?}");
    let (what, then, message) = &reports[0];
    assert!(what.contains("initializer of worker init_0"), "{what}");
    assert!(then.contains("broken"), "{then}");
    assert_eq!(message, "no config file");

    // 3. The drop of a cancelled job's closure panics: reported on the cancelling thread.
    let (pool_busy, gate) = busy_pool();
    let guard = PanicsOnDrop;
    let queued = pool_busy.submit(move || drop(guard));
    assert!(queued.cancel());
    let reports = take(&seen);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].0.contains("closure"), "{reports:?}");
    assert_eq!(reports[0].2, "dropping the closure failed");
    drop(gate);

    // 4. A hook that panics is caught: the worker survives, the report falls back to stderr.
    set_report_hook(|_| panic!("the hook is broken"));
    let fut = pool.submit(|| 2);
    fut.add_done_callback(|_| panic!("another callback bug"));
    assert_eq!(fut.result_timeout(HANG), Ok(2));
    assert_eq!(
        pool.submit(|| 3).result_timeout(HANG),
        Ok(3),
        "the worker survived"
    );

    // 5. take_report_hook hands the hook back and restores stderr.
    let seen = capture();
    let hook = take_report_hook();
    let done = pool.submit(|| 4);
    done.wait();
    done.add_done_callback(|_| panic!("to stderr"));
    assert!(take(&seen).is_empty(), "the taken hook is no longer called");
    drop(hook);
    let default = take_report_hook();
    drop(default); // with no hook set, the default (stderr) one
}

//! One connection per worker thread: `ThreadPoolBuilder::build_with_state` opens a connection
//! when a worker starts (a fallible initializer that is told the worker's index), and
//! `submit_with_state` hands each job the connection of the worker that runs it. The connection
//! here is a stand-in for a database driver (a file per worker, a 30 ms "handshake", a statement
//! cache, and an `Rc` inside, so it could not even be sent to another thread); with rusqlite the
//! initializer would be `|_index| rusqlite::Connection::open(&path)`.
//!
//! A tokio service awaits 40 queries: only 3 connections are opened, one per worker. After the
//! keep-alive the idle workers exit and their connections close by themselves; the next burst
//! opens new ones. Last, a connection that cannot be opened breaks the pool with a message that
//! names the worker and the error. Runs offline in about a second:
//! `cargo run --release --example connection_per_worker`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use poolbridge::{JoinSet, ThreadPoolExecutor};

const WORKERS: usize = 3;
const KEEP_ALIVE: Duration = Duration::from_millis(300);

/// A stand-in for a database connection: expensive to open, cheap to reuse, not `Send`.
struct Connection {
    worker: usize,
    log: File,
    /// Prepared statements, by SQL text: what makes reusing a connection pay.
    statements: RefCell<HashMap<String, u32>>,
    queries: Rc<RefCell<u32>>,
    opened: Instant,
}

impl Connection {
    fn open(dir: &Path, worker: usize) -> io::Result<Connection> {
        let path = dir.join(format!("connection-{worker}.log"));
        let log = File::create(&path)
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))?;
        std::thread::sleep(Duration::from_millis(30)); // the handshake
        println!("    open   connection {worker}");
        Ok(Connection {
            worker,
            log,
            statements: RefCell::default(),
            queries: Rc::default(),
            opened: Instant::now(),
        })
    }

    /// "Runs" a query: prepares it once per connection, logs it, answers with a number.
    fn query(&mut self, sql: &str, arg: u64) -> io::Result<u64> {
        let mut statements = self.statements.borrow_mut();
        let next_id = statements.len() as u32;
        let statement = *statements.entry(sql.to_owned()).or_insert(next_id);
        writeln!(self.log, "{statement} {sql} [{arg}]")?;
        *self.queries.borrow_mut() += 1;
        std::thread::sleep(Duration::from_millis(5)); // the server's work
        Ok(arg * 10 + u64::from(statement))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        println!(
            "    close  connection {} after {} queries ({:.0} ms open)",
            self.worker,
            self.queries.borrow(),
            self.opened.elapsed().as_secs_f64() * 1e3
        );
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let dir: PathBuf = std::env::temp_dir().join("poolbridge-connection_per_worker");
    std::fs::create_dir_all(&dir)?;

    let init_dir = dir.clone();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(WORKERS)
        .thread_name_prefix("db")
        .keep_alive(Some(KEEP_ALIVE)) // idle connections close after this
        .build_with_state(move |index| Connection::open(&init_dir, index))
        .expect("valid settings");

    for burst in 1..=2 {
        println!("burst {burst}: 40 queries awaited together");
        let started = Instant::now();
        let queries = (0..40u64).map(|i| {
            pool.submit_with_state(move |conn: &mut Connection| {
                let sql = if i % 2 == 0 {
                    "SELECT stock FROM items WHERE id = ?"
                } else {
                    "SELECT price FROM items WHERE id = ?"
                };
                conn.query(sql, i).map(|answer| (conn.worker, answer))
            })
        });
        // A stateful job's PoolFuture is awaitable like any other; a JoinSet awaits them all.
        let mut answers: JoinSet<_> = queries.collect();
        let mut per_worker = [0; WORKERS];
        while let Some(answer) = answers.join_next().await {
            // `?` twice: the pool's FutureError, then the query's own io::Error.
            let (worker, _answer) = answer??;
            per_worker[worker] += 1;
        }
        println!(
            "  done in {:.0} ms; queries per connection: {per_worker:?}",
            started.elapsed().as_secs_f64() * 1e3
        );
        println!(
            "  idle for {} ms: the keep-alive closes the connections",
            2 * KEEP_ALIVE.as_millis()
        );
        tokio::time::sleep(2 * KEEP_ALIVE).await;
        println!("  {} worker threads left", pool.num_threads());
    }

    println!("a database that cannot be reached:");
    let broken = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("db")
        .build_with_state(|index| Connection::open(Path::new("/nonexistent/poolbridge"), index))
        .expect("valid settings");
    match broken
        .submit_with_state(|conn: &mut Connection| conn.query("SELECT 1", 0))
        .await
    {
        Err(err) => println!("  the query failed: {err}"),
        Ok(_) => println!("  unexpected: the query ran"),
    }
    Ok(())
}

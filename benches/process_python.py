"""CPython's ProcessPoolExecutor on the workloads of benches/process.rs, for docs/benchmarks.md.

Run by benches/process_compare.py (or alone: python3 benches/process_python.py [--quick]).
Prints one JSON object per line: {"lib": ..., "metric": ..., "value": ..., "unit": ...}.
"""

import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

QUICK = "--quick" in sys.argv


def noop(x):
    return x


def count_primes(lo, hi):
    n = 0
    for k in range(lo, hi):
        if k < 2:
            continue
        d = 2
        prime = True
        while d * d <= k:
            if k % d == 0:
                prime = False
                break
            d += 1
        n += prime
    return n


def crash():
    os._exit(3)


def emit(lib, metric, value, unit):
    print(json.dumps({"lib": lib, "metric": metric, "value": value, "unit": unit}), flush=True)


def first_result(ctx):
    samples = []
    for _ in range(3 if QUICK else 5):
        t = time.perf_counter()
        with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
            pool.submit(noop, 1).result()
            samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def roundtrip(ctx):
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        for _ in range(200):
            pool.submit(noop, 1).result()
        samples = []
        for _ in range(1000 if QUICK else 5000):
            t = time.perf_counter()
            pool.submit(noop, 1).result()
            samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def throughput(ctx, n):
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        pool.submit(noop, 0).result()
        t = time.perf_counter()
        futures = [pool.submit(noop, i) for i in range(n)]
        for f in futures:
            f.result()
        return n / (time.perf_counter() - t)


def cpu_speedup(ctx, lo, hi, chunks):
    step = (hi - lo) // chunks
    ranges = [(lo + i * step, lo + (i + 1) * step) for i in range(chunks)]
    times = {}
    for workers in (1, 2):
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            pool.submit(noop, 0).result()
            t = time.perf_counter()
            total = sum(f.result() for f in [pool.submit(count_primes, a, b) for a, b in ranges])
            times[workers] = time.perf_counter() - t
    return times[1] / times[2], times[2], total


def crash_recovery(ctx):
    # CPython: the crash breaks the pool; recovering means building a new one.
    samples = []
    for _ in range(3 if QUICK else 5):
        pool = ProcessPoolExecutor(max_workers=2, mp_context=ctx)
        pool.submit(noop, 0).result()
        t = time.perf_counter()
        try:
            pool.submit(crash).result()
        except BrokenProcessPool:
            pass
        pool.shutdown(wait=True)
        pool = ProcessPoolExecutor(max_workers=2, mp_context=ctx)
        pool.submit(noop, 0).result()
        samples.append(time.perf_counter() - t)
        pool.shutdown(wait=True)
    return statistics.median(samples)


def main():
    n = 20_000 if QUICK else 100_000
    lo, hi = 10_000_000, 10_000_000 + (20_000 if QUICK else 80_000)
    for name in ("fork", "spawn"):
        ctx = mp.get_context(name)
        lib = f"cpython-{name}"
        emit(lib, "first_result", first_result(ctx) * 1e3, "ms")
        emit(lib, "roundtrip_p50", roundtrip(ctx) * 1e6, "us")
        emit(lib, "throughput", throughput(ctx, n), "jobs/s")
        speedup, t2, _ = cpu_speedup(ctx, lo, hi, 8)
        emit(lib, "cpu_speedup", speedup, "x")
        emit(lib, "cpu_2_workers", t2 * 1e3, "ms")
        emit(lib, "crash_recovery", crash_recovery(ctx) * 1e3, "ms")


if __name__ == "__main__":
    main()

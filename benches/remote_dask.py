"""dask.distributed on this machine: the workloads of benches/remote.rs, for comparison.

    python3 benches/remote_dask.py [--quick]

A LocalCluster of two worker processes with one thread each (as the poolbridge benchmark runs two
hosts with one worker process each), driven by a Client: roundtrip p50/p99 of one trivial task
at a time (`client.submit(inc, i, pure=False).result()`), and the throughput of 10,000 trivial
tasks submitted at once and gathered. Prints one JSON object per line.

dask is installed from PyPI into target/dask-venv on first use (python3 -m venv + pip); the
script re-runs itself with that interpreter.
"""

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "dask-venv")
PY = os.path.join(VENV, "bin", "python")


def ensure_dask():
    try:
        import distributed  # noqa: F401
        return
    except ImportError:
        pass
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        sys.exit("dask.distributed is missing from target/dask-venv: pip install failed")
    if not os.path.exists(PY):
        print(f"creating {VENV} and installing dask[distributed] from PyPI", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run(
        [PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "dask[distributed]"],
        check=True,
    )
    os.execv(PY, [PY] + sys.argv)


def inc(x):
    return x + 1


def emit(metric, value, unit):
    print(json.dumps({"lib": "dask.distributed", "metric": metric, "value": value, "unit": unit}), flush=True)


def percentile(sorted_samples, p):
    return sorted_samples[round((len(sorted_samples) - 1) * p)]


def main():
    ensure_dask()
    import dask
    import distributed
    from distributed import Client, LocalCluster

    quick = "--quick" in sys.argv
    print(f"dask {dask.__version__}, distributed {distributed.__version__}", file=sys.stderr)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        # Warm-up, as the Rust benchmark: 2,000 at once, then 200 one at a time.
        client.gather([client.submit(inc, i, pure=False) for i in range(2000)])
        for i in range(200):
            assert client.submit(inc, i, pure=False).result() == i + 1

        rounds = 500 if quick else 2000
        samples = []
        for i in range(rounds):
            t = time.perf_counter()
            value = client.submit(inc, i, pure=False).result()
            samples.append(time.perf_counter() - t)
            assert value == i + 1
        samples.sort()
        emit("roundtrip_p50", percentile(samples, 0.5) * 1e6, "µs")
        emit("roundtrip_p99", percentile(samples, 0.99) * 1e6, "µs")

        jobs = 10_000
        rates = []
        for _ in range(1 if quick else 3):
            t = time.perf_counter()
            futures = [client.submit(inc, i, pure=False) for i in range(jobs)]
            total = sum(client.gather(futures))
            elapsed = time.perf_counter() - t
            assert total == jobs * (jobs + 1) // 2
            rates.append(jobs / elapsed)
        rates.sort()
        emit("throughput", rates[len(rates) // 2], "jobs/s")


if __name__ == "__main__":
    main()

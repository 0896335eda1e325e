"""The remote executor side by side with dask.distributed, one after the other on this machine.
Prints the markdown table of docs/benchmarks.md ("Remote executor").

    python3 benches/remote_compare.py [--quick]

Runs `cargo bench --features nats --bench remote` (needs nats-server on PATH or in
$POOLBRIDGE_NATS_SERVER) and `python3 benches/remote_dask.py` (installs dask into
target/dask-venv on first use). Each prints JSON lines.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = ["--quick"] if "--quick" in sys.argv else []


def run(cmd):
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    rows = {}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            row = json.loads(line)
            rows.setdefault(row["lib"], {})[row["metric"]] = (row["value"], row["unit"])
    return rows


def main():
    results = {}
    results.update(run(["cargo", "bench", "--quiet", "--features", "nats", "--bench", "remote", "--"] + QUICK))
    results.update(run([sys.executable, "benches/remote_dask.py"] + QUICK))
    ours, peer = results["poolbridge-remote"], results["dask.distributed"]
    metrics = [
        ("roundtrip_p50", "roundtrip p50, trivial job", "µs", False),
        ("roundtrip_p99", "roundtrip p99, trivial job", "µs", False),
        ("throughput", "throughput, 10,000 trivial jobs", "jobs/s", True),
    ]
    print("| metric | poolbridge RemoteExecutor | dask.distributed | ratio |")
    print("|---|---|---|---|")
    for key, label, unit, higher_is_better in metrics:
        a, b = ours[key][0], peer[key][0]
        ratio = a / b if higher_is_better else b / a
        verdict = f"{ratio:.1f}× better" if ratio >= 1 else f"{1 / ratio:.1f}× worse"
        print(f"| {label} ({unit}) | {fmt(a)} | {fmt(b)} | {verdict} |")


def fmt(value):
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


if __name__ == "__main__":
    main()

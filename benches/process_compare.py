"""Process pools side by side: poolbridge, CPython (fork, spawn) and procspawn, one after the
other on this machine. Prints the markdown table of docs/benchmarks.md ("Process pool").

    python3 benches/process_compare.py [--quick]

Runs `cargo bench --bench process`, `python3 benches/process_python.py` and the procspawn peer
(`benches/procspawn_peer`, built into target/procspawn_peer). Each prints JSON lines.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = ["--quick"] if "--quick" in sys.argv else []


def run(cmd, **kw):
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout
    rows = {}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            row = json.loads(line)
            rows.setdefault(row["lib"], {})[row["metric"]] = (row["value"], row["unit"])
    return rows


def main():
    results = {}
    results.update(run(["cargo", "bench", "--quiet", "--bench", "process", "--"] + QUICK))
    results.update(run([sys.executable, "benches/process_python.py"] + QUICK))
    peer_target = os.path.join(ROOT, "target", "procspawn_peer")
    env = dict(os.environ, CARGO_TARGET_DIR=peer_target)
    subprocess.run(
        ["cargo", "build", "--quiet", "--release", "--manifest-path", "benches/procspawn_peer/Cargo.toml"],
        cwd=ROOT, check=True, env=env,
    )
    results.update(run([os.path.join(peer_target, "release", "procspawn_peer")] + QUICK))

    metrics = [
        ("first_result", "new() to first result", "ms", False),
        ("roundtrip_p50", "warm roundtrip p50", "µs", False),
        ("throughput", "throughput, small jobs", "jobs/s", True),
        ("cpu_speedup", "CPU-bound speedup, 1 → 2 workers", "×", True),
        ("crash_recovery", "a crash, then the next result", "ms", False),
    ]
    peers = [lib for lib in ("cpython-fork", "cpython-spawn", "procspawn") if lib in results]
    ours = results["poolbridge"]
    header = ["metric", "poolbridge"] + peers + [f"vs {p}" for p in peers]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for key, label, unit, higher_is_better in metrics:
        cells = [f"{label} ({unit})", fmt(ours.get(key))]
        cells += [fmt(results[p].get(key)) for p in peers]
        for p in peers:
            a, b = ours.get(key), results[p].get(key)
            if a is None or b is None or key == "cpu_speedup":
                cells.append("")
                continue
            ratio = a[0] / b[0] if higher_is_better else b[0] / a[0]
            cells.append(f"{ratio:.1f}× better" if ratio >= 1 else f"{1 / ratio:.1f}× worse")
        print("| " + " | ".join(cells) + " |")


def fmt(cell):
    if cell is None:
        return "n/a"
    value, _unit = cell
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


if __name__ == "__main__":
    main()

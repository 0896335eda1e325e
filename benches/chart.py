#!/usr/bin/env python3
"""Draws the benchmark chart (hand-written SVG) from the harness's JSON, and optionally refreshes
the generated part of docs/benchmarks.md. Python 3 standard library only.

    python3 benches/chart.py                  # results/latest.json (+ python.json) -> results/chart.svg
    python3 benches/chart.py --update-docs    # also splice results/latest.md and the Python
                                              # comparison into docs/benchmarks.md

One panel per headline metric; one bar per library, its median divided by poolbridge's median
(poolbridge = 1, the dashed line), on a log scale; the whisker spans min - max over the runs. The
bar is labelled with the median in the metric's unit. Python's bar (from
benches/python_baseline.py) is added when its JSON is there.
"""

import argparse
import json
import math
import os
import sys
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

COLORS = {
    "poolbridge": "#d62728",
    "tokio": "#1f77b4",
    "blocking": "#2ca02c",
    "rayon": "#9467bd",
    "futures": "#8c564b",
    "threadpool": "#e377c2",
    "python": "#7f7f7f",
}

BEGIN = "<!-- BEGIN GENERATED: benches/chart.py --update-docs -->"
END = "<!-- END GENERATED -->"


def fmt(v):
    if v is None or not math.isfinite(v):
        return "–"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    if a >= 1e3:
        return f"{v / 1e3:.2f}k"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    if a == 0:
        return "0"
    return f"{v:.3f}"


def fmt_ratio(r):
    """Two significant digits, never in exponent notation."""
    if r == 0:
        return "0"
    if r >= 10:
        return f"{r:.0f}"
    digits = max(0, 1 - math.floor(math.log10(abs(r))))
    return f"{r:.{digits}f}"


def load(path):
    with open(path) as f:
        return json.load(f)


def series(rust, python):
    """[(metric_def, [(lib, label, stats)])] in table order."""
    labels = {l["name"]: l["label"] for l in rust["libs"]}
    libs = [l["name"] for l in rust["libs"]]
    if python:
        labels["python"] = python["libs"][0]["label"]
        libs.append("python")
    out = []
    for d in rust["metrics"]:
        w, m = d["workload"], d["metric"]
        rows = []
        for lib in libs:
            src = python if lib == "python" else rust
            s = src["results"].get(w, {}).get(lib, {}).get(m) if src else None
            rows.append((lib, labels[lib], s))
        out.append((d, rows))
    return out


def machine_line(m):
    """Kernel, cpuidle and guest halt-poll: why wake-up latencies differ between machines of
    one kind. JSON from before these facts were recorded says "n/a"."""
    return (f"kernel {m.get('kernel', 'n/a')} · cpuidle {m.get('cpuidle_driver', 'n/a')} "
            f"(governor {m.get('cpuidle_governor', 'n/a')}) · guest halt-poll {m.get('halt_poll', 'n/a')}")


def svg_chart(rust, python):
    data = series(rust, python)
    cols = 2
    rows_n = math.ceil(len(data) / cols)
    nlibs = len(data[0][1]) if data else 0
    bar_h, gap = 16, 5
    label_w, plot_w, value_w = 200, 300, 120
    panel_w = label_w + plot_w + value_w
    panel_h = 46 + nlibs * (bar_h + gap) + 28
    margin, header = 20, 110
    width = margin * 2 + cols * panel_w + (cols - 1) * 30
    height = header + rows_n * (panel_h + 20) + 30

    e = []
    e.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" '
             f'font-size="12">')
    e.append(f'<rect width="{width}" height="{height}" fill="white"/>')
    title = "poolbridge vs the alternatives — each bar is the library's median ÷ poolbridge's (log scale)"
    e.append(f'<text x="{margin}" y="28" font-size="17" font-weight="bold">{escape(title)}</text>')
    m = rust["machine"]
    sub = (f"{rust['date']} · commit {rust['git_commit'][:12]}{' (dirty)' if rust.get('git_dirty') else ''} · "
           f"{m['cpu_model']}, {m['cores']} cores · {m['rustc']} · {rust['runs']} run(s) per pair, "
           f"fresh process each · load avg {m.get('loadavg_start', 0):.1f}→{m.get('loadavg_end', 0):.1f}")
    if rust.get("preliminary"):
        sub = "PRELIMINARY (--quick) · " + sub
    e.append(f'<text x="{margin}" y="50" font-size="12" fill="#444">{escape(sub)}</text>')
    e.append(f'<text x="{margin}" y="68" font-size="12" fill="#444">{escape(machine_line(m))}</text>')
    note = ("Dashed line = poolbridge. Whisker = min–max over runs. Label = median value. "
            "▲ higher is better, ▼ lower is better.")
    if python:
        note += f" Grey = {python['libs'][0]['label']} (benches/python_baseline.py, {python['runs']} run(s))."
    e.append(f'<text x="{margin}" y="88" font-size="12" fill="#444">{escape(note)}</text>')

    for k, (d, rows) in enumerate(data):
        px = margin + (k % cols) * (panel_w + 30)
        py = header + (k // cols) * (panel_h + 20)
        arrow = "▲ higher is better" if d["higher_is_better"] else "▼ lower is better"
        e.append(f'<rect x="{px}" y="{py}" width="{panel_w}" height="{panel_h}" fill="#fafafa" '
                 f'stroke="#ddd"/>')
        e.append(f'<text x="{px + 10}" y="{py + 20}" font-size="14" font-weight="bold">'
                 f'{escape(d["workload"])} — {escape(d["label"])} ({escape(d["unit"])})</text>')
        e.append(f'<text x="{px + panel_w - 10}" y="{py + 20}" text-anchor="end" fill="#555">'
                 f'{arrow}</text>')
        pb = next((s for lib, _, s in rows if lib == "poolbridge"), None)
        base = pb["median"] if pb else None
        ratios = []
        for _, _, s in rows:
            if s and base:
                for key in ("min", "median", "max"):
                    if s[key] > 0:
                        ratios.append(s[key] / base)
        if not base or base <= 0 or not ratios:
            e.append(f'<text x="{px + 10}" y="{py + 50}" fill="#a00">no poolbridge result to '
                     f'normalise to</text>')
            continue
        lo = 10 ** math.floor(math.log10(min(min(ratios), 1.0) * 0.999))
        hi = 10 ** math.ceil(math.log10(max(max(ratios), 1.0) * 1.001))
        if hi / lo < 10:
            hi = lo * 10
        x0 = px + label_w

        def xof(r):
            r = min(max(r, lo), hi)
            return x0 + plot_w * (math.log10(r) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

        top = py + 34
        bottom = top + nlibs * (bar_h + gap)
        # decade grid
        dec = lo
        while dec <= hi * 1.0001:
            x = xof(dec)
            e.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" stroke="#e4e4e4"/>')
            lab = f"{dec:g}×"
            e.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" font-size="10" '
                     f'fill="#777">{lab}</text>')
            dec *= 10
        for i, (lib, label, s) in enumerate(rows):
            y = top + i * (bar_h + gap)
            weight = ' font-weight="bold"' if lib == "poolbridge" else ""
            e.append(f'<text x="{x0 - 8}" y="{y + bar_h - 4}" text-anchor="end"{weight}>'
                     f'{escape(label)}</text>')
            if not s:
                e.append(f'<text x="{x0 + 4}" y="{y + bar_h - 4}" fill="#a00">no result</text>')
                continue
            r = s["median"] / base if s["median"] > 0 else lo
            color = COLORS.get(lib, "#17becf")
            e.append(f'<rect x="{x0}" y="{y}" width="{max(xof(r) - x0, 1):.1f}" height="{bar_h}" '
                     f'fill="{color}" fill-opacity="0.85"><title>{escape(label)}: median '
                     f'{fmt(s["median"])} {escape(d["unit"])}, min {fmt(s["min"])}, max '
                     f'{fmt(s["max"])}, {s.get("n", len(s.get("runs", [])))} run(s)</title></rect>')
            if s["max"] > s["min"]:
                xa = xof(s["min"] / base if s["min"] > 0 else lo)
                xb = xof(s["max"] / base)
                ym = y + bar_h / 2
                e.append(f'<line x1="{xa:.1f}" y1="{ym}" x2="{xb:.1f}" y2="{ym}" stroke="#222"/>')
                for xx in (xa, xb):
                    e.append(f'<line x1="{xx:.1f}" y1="{y + 3}" x2="{xx:.1f}" y2="{y + bar_h - 3}" '
                             f'stroke="#222"/>')
            ratio = "" if lib == "poolbridge" else f"  ({fmt_ratio(s['median'] / base)}×)"
            e.append(f'<text x="{px + label_w + plot_w + 6}" y="{y + bar_h - 4}" font-size="11">'
                     f'{fmt(s["median"])} {escape(d["unit"])}{ratio}</text>')
        x1 = xof(1.0)
        e.append(f'<line x1="{x1:.1f}" y1="{top - 6}" x2="{x1:.1f}" y2="{bottom}" stroke="#d62728" '
                 f'stroke-width="1.5" stroke-dasharray="4 3"/>')
    e.append("</svg>")
    return "\n".join(e) + "\n"


def python_table(rust, python):
    """Markdown: poolbridge against Python on the shared workloads."""
    lines = [
        f"| workload | metric | poolbridge | {python['libs'][0]['label']} | gain |",
        "|---|---|---:|---:|---:|",
    ]
    for d in rust["metrics"]:
        w, m = d["workload"], d["metric"]
        pb = rust["results"].get(w, {}).get("poolbridge", {}).get(m)
        py = python["results"].get(w, {}).get("python", {}).get(m)
        if m == "rss_growth_mib":
            # Sizes may differ between the two runs: compare per job.
            pb = rust["results"].get(w, {}).get("poolbridge", {}).get("bytes_per_job")
            py = python["results"].get(w, {}).get("python", {}).get("bytes_per_job")
            label, unit = "peak RSS growth per job", "bytes"
        else:
            label, unit = d["label"], d["unit"]
        if not pb or not py:
            continue
        a, b = pb["median"], py["median"]
        # How many times better poolbridge does (below 1: worse).
        g = (a / b if b > 0 else None) if d["higher_is_better"] else (b / a if a > 0 else None)
        if g is None:
            gain = "–"
        elif g == 0:
            gain = "worse (Python: 0)"
        elif g >= 1:
            gain = f"{g:.1f}× better"
        else:
            gain = f"{1 / g:.1f}× worse"
        lines.append(f"| {w} | {label} ({unit}) | {fmt(a)} | {fmt(b)} | {gain} |")
    head = (f"Python: `{python['command']}`, {python['date']}, {python['machine'].get('python', '')}, "
            f"{python['runs']} run(s) per workload{' (--quick, preliminary)' if python.get('preliminary') else ''}; "
            f"load average {python['machine'].get('loadavg_start', 0):.2f}.\n"
            f"\"gain\": how many times better (or worse) poolbridge does than Python on the metric.\n\n")
    return head + "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rust", default=os.path.join(HERE, "results", "latest.json"))
    ap.add_argument("--python", default=os.path.join(HERE, "results", "python.json"),
                    help="Python baseline JSON (skipped if missing)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "chart.svg"))
    ap.add_argument("--update-docs", action="store_true",
                    help="splice the generated tables into docs/benchmarks.md")
    a = ap.parse_args()

    rust = load(a.rust)
    python = load(a.python) if a.python and os.path.exists(a.python) else None
    svg = svg_chart(rust, python)
    with open(a.out + ".tmp", "w") as f:
        f.write(svg)
    os.replace(a.out + ".tmp", a.out)
    print(f"wrote {a.out}", file=sys.stderr)

    if python:
        print(python_table(rust, python))

    if a.update_docs:
        md_path = os.path.splitext(a.rust)[0] + ".md"
        with open(md_path) as f:
            table = f.read()
        block = [BEGIN, "", table.strip(), ""]
        block.append(f"![chart]({os.path.relpath(a.out, os.path.join(ROOT, 'docs'))})")
        block.append("")
        if python:
            block += ["### Against Python (what the user came from)", "", python_table(rust, python).strip(), ""]
        block.append(END)
        doc_path = os.path.join(ROOT, "docs", "benchmarks.md")
        with open(doc_path) as f:
            doc = f.read()
        if BEGIN not in doc or END not in doc:
            sys.exit(f"{doc_path}: markers {BEGIN!r} / {END!r} not found")
        before, rest = doc.split(BEGIN, 1)
        _, after = rest.split(END, 1)
        with open(doc_path + ".tmp", "w") as f:
            f.write(before + "\n".join(block) + after)
        os.replace(doc_path + ".tmp", doc_path)
        print(f"updated {doc_path}", file=sys.stderr)


if __name__ == "__main__":
    main()

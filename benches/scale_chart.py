#!/usr/bin/env python3
"""Draws the "cost as work grows" chart (hand-written SVG) from the JSON of a scale run
(`cargo bench --bench compare -- --scale ...`), and optionally splices it with the run's tables
into docs/benchmarks.md. Python 3 standard library only.

    python3 benches/scale_chart.py                 # results/scale-latest.json -> results/scale.svg
    python3 benches/scale_chart.py --update-docs   # also splice results/scale-latest.md and the
                                                   # chart into docs/benchmarks.md

One row per workload, two panels: time per job (ns) and peak memory per job (bytes) against the
number of jobs (log scale), for poolbridge and the best peer of that workload (the one with the
lowest time per job at the largest size; the JSON names it). A flat line is the goal. Whiskers
span min - max over the runs. A hollow memory point is below the run's floor of peak-RSS growth
(`mem_floor_mib`): the allocator's granularity, not the jobs, sets it.
"""

import argparse
import json
import math
import os
import sys
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

sys.path.insert(0, HERE)
from chart import COLORS, fmt, machine_line  # noqa: E402  (same colours and number format)

BEGIN = "<!-- BEGIN GENERATED: benches/scale_chart.py --update-docs -->"
END = "<!-- END GENERATED: scale -->"

PANELS = [("ns_per_job", "time per job", "ns"), ("bytes_per_job", "peak memory per job", "bytes")]


def size_label(n):
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def points(run, workload, lib, metric):
    """[(size, stats, below_floor)] where the library has a result."""
    entry = run["results"].get(workload, {}).get(lib, {})
    floor = run.get("mem_floor_mib", 0)
    out = []
    for size in run["sizes"]:
        m = entry.get("sizes", {}).get(str(size), {})
        s = m.get(metric)
        if not s:
            continue
        rss = m.get("rss_growth_mib", {}).get("median")
        below = metric == "bytes_per_job" and rss is not None and rss < floor
        out.append((size, s, below))
    return out


def nice_ticks(lo, hi, log):
    if log:
        t, d = [], 10 ** math.floor(math.log10(lo))
        while d <= hi * 1.0001:
            if d >= lo * 0.9999:
                t.append(d)
            d *= 10
        return t
    step = 10 ** math.floor(math.log10(hi / 4)) if hi > 0 else 1
    for mult in (1, 2, 5, 10):
        if hi / (step * mult) <= 5:
            step *= mult
            break
    return [k * step for k in range(0, int(hi / step) + 2) if k * step <= hi * 1.0001]


def panel(e, x, y, w, h, run, workload, metric, title, unit, libs, labels):
    """One chart: `libs` as lines over the run's sizes."""
    e.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#fafafa" stroke="#ddd"/>')
    e.append(f'<text x="{x + 10}" y="{y + 18}" font-size="13" font-weight="bold">'
             f'{escape(workload)} — {escape(title)} ({escape(unit)}/job)</text>')
    series = [(lib, points(run, workload, lib, metric)) for lib in libs]
    values = [v for _, pts in series for _, s, _ in pts for v in (s["min"], s["median"], s["max"])]
    values = [v for v in values if v is not None and math.isfinite(v)]
    left, right, top, bottom = x + 62, x + w - 14, y + 30, y + h - 34
    if not values:
        e.append(f'<text x="{x + 10}" y="{y + 50}" fill="#a00">no result</text>')
        return
    sizes = run["sizes"]
    xlo, xhi = min(sizes), max(sizes)
    if xhi == xlo:
        xlo, xhi = xlo / 2, xhi * 2
    positive = [v for v in values if v > 0]
    hi = max(values)
    log = bool(positive) and min(positive) > 0 and hi / min(positive) > 20
    if log:
        lo = 10 ** math.floor(math.log10(min(positive)))
        hi = 10 ** math.ceil(math.log10(hi))
    else:
        lo, hi = 0.0, (hi * 1.1 if hi > 0 else 1.0)

    def xof(n):
        return left + (right - left) * (math.log10(n) - math.log10(xlo)) / (math.log10(xhi) - math.log10(xlo))

    def yof(v):
        if log:
            v = max(v, lo)
            return bottom - (bottom - top) * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        return bottom - (bottom - top) * (v - lo) / (hi - lo)

    for t in nice_ticks(lo if log else 0, hi, log):
        yy = yof(t)
        e.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{right}" y2="{yy:.1f}" stroke="#e4e4e4"/>')
        e.append(f'<text x="{left - 5}" y="{yy + 4:.1f}" text-anchor="end" font-size="10" '
                 f'fill="#777">{fmt(t)}</text>')
    for n in sizes:
        xx = xof(n)
        e.append(f'<line x1="{xx:.1f}" y1="{top}" x2="{xx:.1f}" y2="{bottom}" stroke="#eee"/>')
        e.append(f'<text x="{xx:.1f}" y="{bottom + 14}" text-anchor="middle" font-size="10" '
                 f'fill="#777">{size_label(n)}</text>')
    e.append(f'<text x="{(left + right) / 2:.1f}" y="{bottom + 28}" text-anchor="middle" '
             f'font-size="10" fill="#555">jobs (log scale){" · y: log scale" if log else ""}</text>')
    e.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#999"/>')
    e.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#999"/>')

    for k, (lib, pts) in enumerate(series):
        color = COLORS.get(lib, "#17becf")
        label = labels.get(lib, lib)
        if len(pts) > 1:
            path = " ".join(f"{'M' if i == 0 else 'L'}{xof(n):.1f},{yof(s['median']):.1f}"
                            for i, (n, s, _) in enumerate(pts))
            e.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for n, s, below in pts:
            xx = xof(n)
            if s["max"] > s["min"]:
                e.append(f'<line x1="{xx:.1f}" y1="{yof(s["min"]):.1f}" x2="{xx:.1f}" '
                         f'y2="{yof(s["max"]):.1f}" stroke="{color}" stroke-width="1"/>')
            fill = "white" if below else color
            e.append(f'<circle cx="{xx:.1f}" cy="{yof(s["median"]):.1f}" r="3.5" fill="{fill}" '
                     f'stroke="{color}" stroke-width="1.5"><title>{escape(label)}, {size_label(n)} '
                     f'jobs: median {fmt(s["median"])} {escape(unit)}/job, min {fmt(s["min"])}, '
                     f'max {fmt(s["max"])}{" (below the memory floor)" if below else ""}'
                     f'</title></circle>')
        if pts:
            n, s, _ = pts[-1]
            e.append(f'<text x="{right - 4}" y="{top + 14 + 14 * k}" text-anchor="end" '
                     f'font-size="11" fill="{color}" font-weight="{"bold" if lib == "poolbridge" else "normal"}">'
                     f'{escape(label)}: {fmt(s["median"])} at {size_label(n)}</text>')
        timed = run["results"].get(workload, {}).get(lib, {}).get("timed_out_at")
        if timed:
            e.append(f'<text x="{left + 6}" y="{bottom - 6 - 14 * k}" font-size="10" '
                     f'fill="{color}">{escape(label)}: timed out at {size_label(timed)} jobs '
                     f'(&gt; {run.get("timeout_s", "?")} s)</text>')


def svg_chart(run):
    labels = {l["name"]: l["label"] for l in run["libs"]}
    rows = []
    for w in run["workloads"]:
        libs = ["poolbridge"] + ([w["best_peer"]] if w.get("best_peer") else [])
        rows.append((w["name"], libs))
    panel_w, panel_h, gap, margin, header = 470, 250, 20, 20, 96
    width = margin * 2 + 2 * panel_w + gap
    height = header + len(rows) * (panel_h + gap) + 10
    e = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" '
         f'font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>']
    title = "Cost as work grows: poolbridge and the best peer, per job, as the number of jobs grows"
    e.append(f'<text x="{margin}" y="28" font-size="17" font-weight="bold">{escape(title)}</text>')
    m = run["machine"]
    sub = (f"{run['date']} · commit {run['git_commit'][:12]}{' (dirty)' if run.get('git_dirty') else ''} · "
           f"{m['cpu_model']}, {m['cores']} cores · {m['rustc']} · median of {run['runs']} run(s), "
           f"fresh process each · load avg {m.get('loadavg_start', 0):.1f}→{m.get('loadavg_end', 0):.1f}")
    e.append(f'<text x="{margin}" y="50" font-size="12" fill="#444">{escape(sub)}</text>')
    e.append(f'<text x="{margin}" y="68" font-size="12" fill="#444">{escape(machine_line(m))}</text>')
    note = ("Flat is the goal. Best peer = lowest time per job at the largest size. Whisker = min–max "
            f"over runs. Hollow = peak RSS grew < {run.get('mem_floor_mib', 0):g} MiB (allocator granularity).")
    e.append(f'<text x="{margin}" y="86" font-size="12" fill="#444">{escape(note)}</text>')
    for r, (w, libs) in enumerate(rows):
        y = header + r * (panel_h + gap)
        for c, (metric, title, unit) in enumerate(PANELS):
            x = margin + c * (panel_w + gap)
            panel(e, x, y, panel_w, panel_h, run, w, metric, title, unit, libs, labels)
    e.append("</svg>")
    return "\n".join(e) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", default=os.path.join(HERE, "results", "scale-latest.json"),
                    help="a scale run's JSON (its tables are the .md beside it)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "scale.svg"))
    ap.add_argument("--update-docs", action="store_true",
                    help="splice the tables and the chart into the docs page")
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "benchmarks.md"),
                    help="the page --update-docs writes [default: docs/benchmarks.md]")
    a = ap.parse_args()

    run = load(a.json)
    svg = svg_chart(run)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".tmp", "w") as f:
        f.write(svg)
    os.replace(a.out + ".tmp", a.out)
    print(f"wrote {a.out}", file=sys.stderr)

    if a.update_docs:
        with open(os.path.splitext(a.json)[0] + ".md") as f:
            table = f.read()
        image = os.path.relpath(os.path.abspath(a.out), os.path.dirname(os.path.abspath(a.doc)))
        block = [BEGIN, "", f"![cost per job as the number of jobs grows]({image})", "",
                 table.strip(), "", END]
        with open(a.doc) as f:
            doc = f.read()
        if BEGIN not in doc or END not in doc:
            sys.exit(f"{a.doc}: markers {BEGIN!r} / {END!r} not found")
        before, rest = doc.split(BEGIN, 1)
        _, after = rest.split(END, 1)
        with open(a.doc + ".tmp", "w") as f:
            f.write(before + "\n".join(block) + after)
        os.replace(a.doc + ".tmp", a.doc)
        print(f"updated {a.doc}", file=sys.stderr)


def load(path):
    with open(path) as f:
        return json.load(f)


if __name__ == "__main__":
    main()

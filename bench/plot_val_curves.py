#!/usr/bin/env python3
"""Plot validation curves of several `plinth distill` runs side by side as one SVG (standard library only): one panel
per column of their val.csv (step,val_kl,val_ppl), one line per run.

Usage: python3 bench/plot_val_curves.py OUT.svg LABEL=RUN_DIR [LABEL=RUN_DIR ...]
"""
import csv
import math
import sys

COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"]
PANELS = [("val_kl", "validation KL(teacher || student), nats", False), ("val_ppl", "validation perplexity (log scale)", True)]
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 420, 300, 62, 16, 34, 44


def read(run):
    with open(run + "/val.csv") as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def panel(x0, runs, key, title, log):
    out = [f'<g transform="translate({x0},0)">', f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="13">{title}</text>']
    xs = [r["step"] for _, rows in runs for r in rows]
    ys = [r[key] for _, rows in runs for r in rows]
    f = (lambda v: math.log10(v)) if log else (lambda v: v)
    xmin, xmax = min(xs), max(xs)
    ymin, ymax = f(min(ys)), f(max(ys))
    pad = (ymax - ymin) * 0.05 or 1
    ymin, ymax = ymin - pad, ymax + pad

    def px(x):
        return PAD_L + (x - xmin) / (xmax - xmin or 1) * (W - PAD_L - PAD_R)

    def py(y):
        return PAD_T + (ymax - f(y)) / (ymax - ymin) * (H - PAD_T - PAD_B)

    out.append(f'<rect x="{PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" height="{H - PAD_T - PAD_B}" fill="none" stroke="#888"/>')
    for i in range(5):  # y ticks
        fy = ymin + (ymax - ymin) * i / 4
        v = 10 ** fy if log else fy
        y = PAD_T + (ymax - fy) / (ymax - ymin) * (H - PAD_T - PAD_B)
        out.append(f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{v:.3g}</text>')
    for i in range(5):  # x ticks
        x = xmin + (xmax - xmin) * i / 4
        out.append(f'<text x="{px(x):.1f}" y="{H - PAD_B + 14}" text-anchor="middle" font-size="10">{x:.0f}</text>')
    out.append(f'<text x="{(PAD_L + W - PAD_R) / 2}" y="{H - 8}" text-anchor="middle" font-size="11">step</text>')
    for i, (label, rows) in enumerate(runs):
        pts = " ".join(f"{px(r['step']):.1f},{py(r[key]):.1f}" for r in rows)
        c = COLORS[i % len(COLORS)]
        out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
        out += [f'<circle cx="{px(r["step"]):.1f}" cy="{py(r[key]):.1f}" r="2.5" fill="{c}"/>' for r in rows]
        out.append(f'<text x="{W - PAD_R - 6}" y="{PAD_T + 16 + 14 * i}" text-anchor="end" font-size="11" fill="{c}">{label}</text>')
    out.append("</g>")
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    runs = [(a.split("=", 1)[0], read(a.split("=", 1)[1])) for a in sys.argv[2:]]
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W * len(PANELS)}" height="{H}" font-family="sans-serif">',
           f'<rect width="{W * len(PANELS)}" height="{H}" fill="white"/>']
    for i, (key, title, log) in enumerate(PANELS):
        svg += panel(i * W, runs, key, title, log)
    svg.append("</svg>")
    with open(sys.argv[1], "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Draw the curves of `plinth clip train` runs as one plain SVG: validation zero-shot accuracy (accuracy.csv; for
runs on image-caption pairs, caption retrieval top-1) and training loss (loss.csv, a moving average) against
epochs, one colour per run. No plotting library needed.

Usage: python3 tools/plot_clip_curves.py OUT.svg LABEL=RUN_DIR [LABEL=RUN_DIR ...]
"""
import csv
import sys

W, H, PAD = 360, 240, 44
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def panel(x0, title, series, ymin, ymax, xmax):
    out = [f'<g transform="translate({x0},0)"><text x="{W / 2}" y="16" text-anchor="middle">{title}</text>',
           f'<rect x="{PAD}" y="24" width="{W - PAD - 10}" height="{H - 24 - PAD}" fill="none" stroke="#999"/>']
    sx = lambda x: PAD + (W - PAD - 10) * x / xmax
    sy = lambda y: 24 + (H - 24 - PAD) * (1 - (y - ymin) / (ymax - ymin))
    for k in range(5):
        y = ymin + (ymax - ymin) * k / 4
        out.append(f'<text x="{PAD - 4}" y="{sy(y) + 4:.1f}" text-anchor="end" font-size="10">{y:.2f}</text>')
    for k in range(0, int(xmax) + 1, max(1, int(xmax) // 10)):
        out.append(f'<text x="{sx(k):.1f}" y="{H - PAD + 14}" text-anchor="middle" font-size="10">{k}</text>')
    out.append(f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle" font-size="11">epoch</text>')
    for colour, pts in series:
        d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
    out.append("</g>")
    return out


def main():
    out_path, runs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    acc, loss, legend = [], [], []
    xmax = 0
    for i, (label, d) in enumerate(runs):
        c = COLOURS[i % len(COLOURS)]
        a = read(d + "/accuracy.csv")
        spe = float(a[-1]["step"]) / float(a[-1]["epoch"])
        col = list(a[0].keys())[2]  # val_zero_shot_accuracy, or val_caption_retrieval_top1 for pairs
        acc.append((c, [(float(r["epoch"]), float(r[col])) for r in a]))
        rows, ema, pts = read(d + "/loss.csv"), None, []
        for r in rows:
            v = float(r["train_loss"])
            ema = v if ema is None else 0.98 * ema + 0.02 * v
            pts.append((float(r["step"]) / spe, ema / float(rows[0]["train_loss"])))
        loss.append((c, pts))
        xmax = max(xmax, float(a[-1]["epoch"]))
        legend.append(f'<text x="{10 + 170 * i}" y="{H + 16}" fill="{c}">{label}</text>')
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H + 24}" font-family="sans-serif" font-size="12">']
    title = "validation caption retrieval top-1" if col.startswith("val_caption") else "validation zero-shot accuracy"
    svg += panel(0, title, acc, 0, 1, xmax)
    svg += panel(W, "training loss / its first value (EMA)", loss, 0, 1.2, xmax)
    svg += legend + ["</svg>"]
    open(out_path, "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()

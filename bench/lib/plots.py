"""Best-so-far curves and their SVG plot (the search and tabular sections)."""
import statistics


def best_so_far(rewards):
    best, curve = float("-inf"), []
    for reward in rewards:
        best = max(best, reward)
        curve.append(best)
    return curve


def curves_by_strategy(runs):
    """`simulate --output json`'s runs as best-so-far curves per strategy."""
    curves = {}
    for run in runs:
        curves.setdefault(run["strategy"], []).append(best_so_far(run["rewards"]))
    return curves


def write_curves_svg(path, title, curves):
    """Median best-so-far curve per strategy with its min..max band, as SVG."""
    colours = {"reinforce": "#1f77b4", "random": "#ff7f0e", "evolution": "#2ca02c"}
    width, height, left, right, top, bottom = 720, 420, 70, 150, 40, 50
    length = max(len(c) for runs in curves.values() for c in runs)
    values = [v for runs in curves.values() for c in runs for v in c if v > float("-inf")]
    low, high = min(values), max(values)
    high = high if high > low else low + 1
    x = lambda i: left + (width - left - right) * i / max(length - 1, 1)  # noqa: E731
    y = lambda v: top + (height - top - bottom) * (1 - (v - low) / (high - low))  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
             f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">children</text>']
    for k in range(5):
        v = low + (high - low) * k / 4
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4}" text-anchor="end">{v:.3f}</text>')
        i = round((length - 1) * k / 4)
        parts.append(f'<text x="{x(i)}" y="{height - bottom + 16}" text-anchor="middle">{i + 1}</text>')
    for n, (strategy, runs) in enumerate(sorted(curves.items())):
        colour = colours.get(strategy, "#555")
        column = lambda i: [c[i] for c in runs if i < len(c) and c[i] > float("-inf")]  # noqa: E731
        steps = [i for i in range(length) if column(i)]
        upper = " ".join(f"{x(i):.1f},{y(max(column(i))):.1f}" for i in steps)
        lower = " ".join(f"{x(i):.1f},{y(min(column(i))):.1f}" for i in reversed(steps))
        median = " ".join(f"{x(i):.1f},{y(statistics.median(column(i))):.1f}" for i in steps)
        parts.append(f'<polygon points="{upper} {lower}" fill="{colour}" fill-opacity="0.15"/>')
        parts.append(f'<polyline points="{median}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{width - right + 10}" y="{top + 20 * n + 10}" fill="{colour}">{strategy}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))

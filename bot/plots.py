"""Plots as plain SVG, written beside the JSON they draw (`lineage/plots/`).

SVG text needs no plotting library, renders in GitHub's file view and in any browser, costs
about a millisecond a figure, and is byte-for-byte the same for the same numbers, so a
plot in a lineage commit changes only when its data does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from bot.records import RegretFile

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
PANEL_W, PANEL_H = 360, 220
MARGIN = {"left": 58, "right": 12, "top": 28, "bottom": 40}
LEGEND_ROW = 13  # pixels a row of the legend takes above the plot
LETTER_W = 6.0  # a generous width of one character at font-size 10

Point = tuple[float, float]


def _num(value: float) -> str:
    """Short, stable tick text."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10_000 or magnitude < 0.01:
        return f"{value:.1e}"
    if magnitude >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round numbers spanning [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count)
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * step:
            step *= factor
            break
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


@dataclass
class Panel:
    """One chart: line series, or boxes (min, p25, median, p75, max, and a mean dot)."""

    title: str
    xlabel: str = ""
    ylabel: str = ""
    series: list[tuple[str, list[Point]]] = field(default_factory=list)
    boxes: list[tuple[str, Mapping[str, float], float | None]] = field(default_factory=list)
    log2_x: bool = False  # capacity doublings are evenly spaced

    def _ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        if self.boxes:
            values = [v for _, dist, mean in self.boxes for v in [*dist.values(), mean or 0.0]]
            return (0.0, float(len(self.boxes))), (
                min(values, default=0.0),
                max(values, default=1.0),
            )
        xs = [self._x(x) for _, points in self.series for x, _ in points]
        ys = [y for _, points in self.series for _, y in points]
        return (min(xs, default=0.0), max(xs, default=1.0)), (
            min(ys, default=0.0),
            max(ys, default=1.0),
        )

    def _x(self, x: float) -> float:
        return math.log2(x) if self.log2_x and x > 0 else x

    def svg(self, left: float, top: float) -> str:
        (x0, x1), (y0, y1) = self._ranges()
        yticks = nice_ticks(y0, y1)
        y0, y1 = yticks[0], yticks[-1]
        if self.boxes:
            xticks: list[float] = []
        else:
            if x1 <= x0:
                x0, x1 = x0 - 1, x1 + 1
            xticks = sorted({self._x(x) for _, pts in self.series for x, _ in pts})
            if len(xticks) > 8:
                xticks = nice_ticks(x0, x1)
                x0, x1 = xticks[0], xticks[-1]
        plot_l, plot_t = left + MARGIN["left"], top + MARGIN["top"]
        plot_w = PANEL_W - MARGIN["left"] - MARGIN["right"]
        # the legend: a row (or rows) of its own above the plot, never over the curves, and
        # wrapped inside the panel so no label is clipped
        legend: list[tuple[float, int, str, str]] = []  # x, row, colour, label
        x, row = plot_l, 0
        for i, (label, _) in enumerate(self.series):
            if not (len(self.series) > 1 or label):
                continue
            width = 20 + LETTER_W * len(label) + 10
            if x + width > plot_l + plot_w and x > plot_l:
                x, row = plot_l, row + 1
            legend.append((x, row, COLOURS[i % len(COLOURS)], label))
            x += width
        rows = (legend[-1][1] + 1) if legend else 0
        plot_t += LEGEND_ROW * rows
        plot_h = PANEL_H - MARGIN["top"] - MARGIN["bottom"] - LEGEND_ROW * rows

        def px(x: float) -> float:
            return plot_l + (x - x0) / ((x1 - x0) or 1) * plot_w

        def py(y: float) -> float:
            return plot_t + plot_h - (y - y0) / ((y1 - y0) or 1) * plot_h

        out = [
            f'<g class="panel" data-title="{escape(self.title)}">',
            f'<text x="{left + PANEL_W / 2:.1f}" y="{top + 17:.1f}" text-anchor="middle" '
            f'font-weight="bold">{escape(self.title)}</text>',
            f'<rect x="{plot_l:.1f}" y="{plot_t:.1f}" width="{plot_w:.1f}" height="{plot_h:.1f}" '
            'fill="none" stroke="#999"/>',
        ]
        for t in yticks:
            out.append(
                f'<line x1="{plot_l:.1f}" x2="{plot_l + plot_w:.1f}" y1="{py(t):.1f}" '
                f'y2="{py(t):.1f}" stroke="#eee"/><text x="{plot_l - 4:.1f}" y="{py(t) + 4:.1f}" '
                f'text-anchor="end" font-size="10">{_num(t)}</text>'
            )
        for t in xticks:
            label = _num(2**t) if self.log2_x else _num(t)
            out.append(
                f'<text x="{px(t):.1f}" y="{plot_t + plot_h + 13:.1f}" text-anchor="middle" '
                f'font-size="10">{label}</text>'
            )
        if self.xlabel:
            out.append(
                f'<text x="{plot_l + plot_w / 2:.1f}" y="{top + PANEL_H - 6:.1f}" '
                f'text-anchor="middle" font-size="11">{escape(self.xlabel)}</text>'
            )
        if self.ylabel:
            cx, cy = left + 12, plot_t + plot_h / 2
            out.append(
                f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" font-size="11" '
                f'transform="rotate(-90 {cx:.1f} {cy:.1f})">{escape(self.ylabel)}</text>'
            )
        for i, (label, dist, mean) in enumerate(self.boxes):
            colour = COLOURS[i % len(COLOURS)]
            cx = px(i + 0.5)
            half = plot_w / max(1, len(self.boxes)) * 0.25
            out += [
                f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{py(dist["min"]):.1f}" '
                f'y2="{py(dist["max"]):.1f}" stroke="{colour}"/>',
                f'<rect x="{cx - half:.1f}" y="{py(dist["p75"]):.1f}" width="{2 * half:.1f}" '
                f'height="{max(0.5, py(dist["p25"]) - py(dist["p75"])):.1f}" fill="{colour}" '
                f'fill-opacity="0.25" stroke="{colour}"/>',
                f'<line x1="{cx - half:.1f}" x2="{cx + half:.1f}" y1="{py(dist["median"]):.1f}" '
                f'y2="{py(dist["median"]):.1f}" stroke="{colour}" stroke-width="2"/>',
                f'<text x="{cx:.1f}" y="{plot_t + plot_h + 13:.1f}" text-anchor="middle" '
                f'font-size="10">{escape(label)}</text>',
            ]
            if mean is not None:
                out.append(
                    f'<circle cx="{cx:.1f}" cy="{py(mean):.1f}" r="3" fill="{colour}">'
                    f"<title>mean {_num(mean)}</title></circle>"
                )
        for i, (label, points) in enumerate(self.series):
            colour = COLOURS[i % len(COLOURS)]
            coords = " ".join(f"{px(self._x(x)):.1f},{py(y):.1f}" for x, y in points)
            out.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
            )
            out += [
                f'<circle cx="{px(self._x(x)):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(label)}: {_num(x)}, {_num(y)}</title></circle>"
                for x, y in points
            ]
        for lx, row, colour, label in legend:
            ly = top + MARGIN["top"] + LEGEND_ROW * row + 8
            out.append(
                f'<line x1="{lx:.1f}" x2="{lx + 14:.1f}" y1="{ly - 4:.1f}" y2="{ly - 4:.1f}" '
                f'stroke="{colour}" stroke-width="2"/>'
                f'<text x="{lx + 18:.1f}" y="{ly:.1f}" font-size="10">{escape(label)}</text>'
            )
        out.append("</g>")
        return "".join(out)


def figure(panels: Sequence[Panel], *, columns: int = 2, title: str = "") -> str:
    """Panels on a grid, as one standalone SVG document."""
    columns = max(1, min(columns, len(panels) or 1))
    rows = math.ceil(len(panels) / columns) if panels else 1
    head = 30 if title else 0
    width, height = columns * PANEL_W, rows * PANEL_H + head
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    if title:
        parts.append(
            f'<text x="{width / 2:.1f}" y="20" text-anchor="middle" font-size="15" '
            f'font-weight="bold">{escape(title)}</text>'
        )
    for i, panel in enumerate(panels):
        parts.append(panel.svg((i % columns) * PANEL_W, head + (i // columns) * PANEL_H))
    if not panels:
        parts.append('<text x="20" y="40">no data yet</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def regret_figure(regret: RegretFile) -> str:
    """Per goal: the distribution of regret over every judgment, and its trend by generation."""
    panels = []
    for goal, r in sorted(regret.goals.items()):
        panels.append(
            Panel(
                f"{goal}: regret distribution",
                ylabel="regret",
                boxes=[(f"{r.judgments} episodes", r.distribution, r.avg_regret)]
                if r.distribution
                else [],
            )
        )
        panels.append(
            Panel(
                f"{goal}: avg regret by generation",
                xlabel="generation",
                ylabel="avg regret",
                series=[
                    (
                        "",
                        [
                            (float(g), v)
                            for g, v in sorted(r.trend.items(), key=lambda t: int(t[0]))
                        ],
                    )
                ],
            )
        )
    return figure(panels, columns=2, title=f"Regret per goal, generation {regret.generation}")

"""Small inline SVG bar charts, drawn on the server (no chart library, no script).

``bar_chart`` stacks one or more series per hour; colours come from CSS classes, each bar has a
``<title>`` (the browser's tooltip) with the exact counts, and the chart scales with its box.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

WIDTH = 560
HEIGHT = 160
LEFT = 36  # room for the y-axis labels
BOTTOM = 22  # room for the x-axis labels
TOP = 10


@dataclass(frozen=True)
class Series:
    name: str
    values: list[int]
    css_class: str


def _nice_max(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50... that is at least ``value``."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def bar_chart(series: list[Series], start: datetime, *, label: str) -> Markup:
    """Hourly stacked bars from ``start`` (UTC), one bar per value; ``label`` names the chart."""
    count = len(series[0].values) if series else 0
    totals = [sum(s.values[i] for s in series) for i in range(count)]
    top = _nice_max(max(totals, default=0) or 1)
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(count, 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH}" y2="{TOP + plot_h}"/>',
        f'<line class="grid" x1="{LEFT}" y1="{TOP}" x2="{WIDTH}" y2="{TOP}"/>',
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{top}</text>',
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end">0</text>',
    ]
    for i in range(count):
        x = LEFT + i * slot + slot * 0.15
        y: float = TOP + plot_h
        hour = start + timedelta(hours=i)
        detail = ", ".join(f"{s.values[i]} {s.name}" for s in series)
        tip = f"{hour:%H:%M}\N{EN DASH}{hour + timedelta(hours=1):%H:%M} UTC: {detail}"
        parts.append(f"<g><title>{escape(tip)}</title>")
        parts.append(f'<rect class="hit" x="{LEFT + i * slot:.1f}" y="{TOP}" width="{slot:.1f}" height="{plot_h}"/>')
        for s in series:
            h = plot_h * s.values[i] / top
            if h > 0:
                y -= h
                parts.append(
                    f'<rect class="{s.css_class}" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}"/>'
                )
        parts.append("</g>")
    minus = "\N{MINUS SIGN}"
    for i, hours in ((0, count), (count // 4, count * 3 // 4), (count // 2, count // 2), (count * 3 // 4, count // 4)):
        text = f"{minus}{hours} h"
        parts.append(f'<text class="tick" x="{LEFT + i * slot:.1f}" y="{HEIGHT - 6}">{text}</text>')
    parts.append(f'<text class="tick" x="{WIDTH}" y="{HEIGHT - 6}" text-anchor="end">now</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and escaped text only

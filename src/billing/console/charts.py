"""Bar charts as inline SVG, rendered on the server: no script, nothing to load, readable
by a screen reader (a title, and every bar carries its figure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 240, 8, 28, 12
PALETTE = ("#1f6feb", "#2da44e", "#bf8700", "#8250df", "#57606a")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def money(amount: int, currency: str) -> str:
    """Minor units for display, e.g. 'BRL 1,234.56' (integers only, no float)."""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{currency} {units:,}.{cents:02d}"


def bar_chart(
    chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series], currency: str
) -> str:
    """Stacked bars, one per label; the legend names each series."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = max([*totals, 1])
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT * 2) / max(len(labels), 1)
    bar_w = max(slot * 0.7, 2)
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart"'
        f' viewBox="0 0 {WIDTH} {HEIGHT + 24 * len(series)}"'
        f' role="img" aria-labelledby="{escape(chart_id)}-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - LEFT}" y2="{HEIGHT - BOTTOM}"'
        ' stroke="#8c959f"/>',
    ]
    for i, label in enumerate(labels):
        x = LEFT + i * slot + (slot - bar_w) / 2
        base = float(HEIGHT - BOTTOM)
        for k, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            h = value * plot_h / top
            base -= h
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}"'
                f' fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(label)} · {escape(s.name)}: '
                f"{escape(money(value, currency))}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - 10}" font-size="11" text-anchor="middle"'
            f' fill="#24292f">{escape(label)}</text>'
        )
    for k, s in enumerate(series):
        y = HEIGHT + 8 + 24 * k
        parts.append(
            f'<rect x="{LEFT}" y="{y}" width="12" height="12" fill="{PALETTE[k % len(PALETTE)]}"/>'
            f'<text x="{LEFT + 18}" y="{y + 11}" font-size="12" fill="#24292f">'
            f"{escape(s.name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)

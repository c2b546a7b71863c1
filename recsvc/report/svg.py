"""Small inline SVG charts: bars, grouped bars, lines and a forest plot, with every label escaped.

Each chart is one ``<svg id=... class="chart" data-rendered="1">`` whose marks carry a class
(``bar``, ``point``, ``line``, ``ci``, ``estimate``), so a browser test can find and measure them.
Values become geometry here; nothing is drawn by script.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

PALETTE: tuple[str, ...] = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#edc948", "#9c755f")
Fmt = Callable[[float], str]


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def pct(value: float) -> str:
    return f"{100.0 * value:.2f}%"


def count(value: float) -> str:
    return f"{value:,.0f}"


def _open(chart_id: str, width: int, height: int, label: str) -> str:
    return (
        f'<svg id="{esc(chart_id)}" class="chart" data-rendered="1" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{esc(label)}" xmlns="http://www.w3.org/2000/svg">'
    )


def _text(x: float, y: float, text: str, anchor: str = "middle", cls: str = "lbl") -> str:
    return f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{esc(text)}</text>'


def _nice_max(value: float) -> float:
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _height(value: float, y_max: float, span: float) -> float:
    """Bar height; a positive value stays visible (1.5 px) however small against the largest."""
    h = span * max(value, 0.0) / y_max
    return max(h, 1.5) if value > 0 else 0.0


def _y_axis(top: float, bottom: float, left: float, right: float, y_max: float, fmt: Fmt) -> list[str]:
    parts = []
    for i in range(5):
        v = y_max * i / 4
        y = bottom - (bottom - top) * i / 4
        parts.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(_text(left - 4, y + 4, fmt(v), "end", "tick"))
    return parts


def bar_chart(
    chart_id: str, bars: Sequence[tuple[str, float]], label: str, fmt: Fmt = count, width: int = 560, height: int = 260
) -> str:
    """Vertical bars, one per (label, value)."""
    left, right, top, bottom = 64, width - 10, 16, height - 40
    y_max = _nice_max(max((v for _, v in bars), default=0.0))
    slot = (right - left) / max(len(bars), 1)
    parts = [_open(chart_id, width, height, label), *_y_axis(top, bottom, left, right, y_max, fmt)]
    for i, (name, value) in enumerate(bars):
        h = _height(value, y_max, bottom - top)
        x = left + i * slot + slot * 0.15
        parts.append(
            f'<rect class="bar" data-value="{value}" x="{x:.1f}" y="{bottom - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{esc(name)}: {esc(fmt(value))}</title></rect>'
        )
        parts.append(_text(x + slot * 0.35, bottom - h - 4, fmt(value), cls="val"))
        parts.append(_text(x + slot * 0.35, bottom + 16, name))
    parts.append("</svg>")
    return "".join(parts)


def grouped_bar_chart(
    chart_id: str,
    groups: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str],
    label: str,
    fmt: Fmt = pct,
    width: int = 640,
    height: int = 280,
) -> str:
    """For each group (a stage, a channel) one bar per series (open, click, conversion rate)."""
    left, right, top, bottom = 64, width - 10, 28, height - 40
    y_max = _nice_max(max((v for _, vs in groups for v in vs), default=0.0))
    slot = (right - left) / max(len(groups), 1)
    bar_w = slot * 0.8 / max(len(series), 1)
    parts = [_open(chart_id, width, height, label), *_y_axis(top, bottom, left, right, y_max, fmt)]
    for s, name in enumerate(series):
        x = left + s * 130
        parts.append(f'<rect class="key" x="{x}" y="6" width="10" height="10" fill="{PALETTE[s % len(PALETTE)]}"/>')
        parts.append(_text(x + 14, 15, name, "start"))
    for g, (group, values) in enumerate(groups):
        x0 = left + g * slot + slot * 0.1
        for s, value in enumerate(values):
            h = _height(value, y_max, bottom - top)
            parts.append(
                f'<rect class="bar" data-value="{value}" x="{x0 + s * bar_w:.1f}" y="{bottom - h:.1f}" '
                f'width="{bar_w * 0.9:.1f}" height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}">'
                f"<title>{esc(group)} {esc(series[s])}: {esc(fmt(value))}</title></rect>"
            )
        parts.append(_text(left + g * slot + slot / 2, bottom + 16, group))
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    chart_id: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    label: str,
    fmt: Fmt = pct,
    width: int = 640,
    height: int = 280,
) -> str:
    """One line per series over the shared x labels (days); None leaves a gap."""
    left, right, top, bottom = 64, width - 10, 28, height - 40
    y_max = _nice_max(max((v for _, vs in series for v in vs if v is not None), default=0.0))
    n = len(x_labels)

    def x_at(i: int) -> float:
        return left + (right - left) * (i / (n - 1) if n > 1 else 0.5)

    parts = [_open(chart_id, width, height, label), *_y_axis(top, bottom, left, right, y_max, fmt)]
    every = max(1, math.ceil(n / 8))
    parts += [_text(x_at(i), bottom + 16, x_labels[i]) for i in range(0, n, every)]
    for s, (name, values) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        parts.append(f'<rect class="key" x="{left + s * 120}" y="6" width="10" height="10" fill="{colour}"/>')
        parts.append(_text(left + s * 120 + 14, 15, name, "start"))
        points = [(x_at(i), bottom - (bottom - top) * v / y_max, v) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            d = " ".join(f"{'M' if j == 0 else 'L'}{x:.1f},{y:.1f}" for j, (x, y, _) in enumerate(points))
            parts.append(f'<path class="line" data-series="{esc(name)}" d="{d}" stroke="{colour}" fill="none"/>')
        parts += [
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
            f"<title>{esc(name)}: {esc(fmt(v))}</title></circle>"
            for x, y, v in points
        ]
    parts.append("</svg>")
    return "".join(parts)


def forest_chart(
    chart_id: str, rows: Sequence[tuple[str, float, float, float]], label: str, fmt: Fmt = pct, width: int = 640
) -> str:
    """One row per arm: the estimate as a dot and its interval as a whisker, around a zero line."""
    height = 40 + 34 * max(len(rows), 1)
    left, right, top = 140, width - 20, 20
    finite = [v for _, e, lo, hi in rows for v in (e, lo, hi) if math.isfinite(v)]
    span = _nice_max(max((abs(v) for v in finite), default=0.0))

    def x_at(v: float) -> float:
        v = max(-span, min(span, v))
        return left + (right - left) * (v + span) / (2 * span)

    parts = [_open(chart_id, width, height, label)]
    bottom = height - 24
    for v in (-span, -span / 2, 0.0, span / 2, span):
        cls = "zero" if v == 0.0 else "grid"
        parts.append(f'<line class="{cls}" x1="{x_at(v):.1f}" x2="{x_at(v):.1f}" y1="{top}" y2="{bottom}"/>')
        parts.append(_text(x_at(v), bottom + 16, fmt(v), cls="tick"))
    for i, (name, est, lo, hi) in enumerate(rows):
        y = top + 20 + 34 * i
        parts.append(_text(left - 8, y + 4, name, "end"))
        parts.append(
            f'<line class="ci" x1="{x_at(lo):.1f}" x2="{x_at(hi):.1f}" y1="{y}" y2="{y}" stroke="{PALETTE[0]}">'
            f"<title>{esc(name)}: 95% CI {esc(fmt(lo))} to {esc(fmt(hi))}</title></line>"
        )
        parts.append(
            f'<circle class="estimate" cx="{x_at(est):.1f}" cy="{y}" r="5" fill="{PALETTE[1]}">'
            f"<title>{esc(name)}: {esc(fmt(est))}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(chart_id: str, bars: Sequence[tuple[str, float]], label: str, fmt: Fmt = count, width: int = 560) -> str:
    """Horizontal bars, for labels that are words (feedback reasons)."""
    height = 20 + 28 * max(len(bars), 1)
    left, right = 150, width - 60
    v_max = max((v for _, v in bars), default=0.0) or 1.0
    parts = [_open(chart_id, width, height, label)]
    for i, (name, value) in enumerate(bars):
        y = 10 + 28 * i
        w = (right - left) * max(value, 0.0) / v_max
        parts.append(_text(left - 8, y + 15, name, "end"))
        parts.append(
            f'<rect class="bar" data-value="{value}" x="{left}" y="{y}" width="{w:.1f}" height="20" '
            f'fill="{PALETTE[2]}"><title>{esc(name)}: {esc(fmt(value))}</title></rect>'
        )
        parts.append(_text(left + w + 4, y + 15, fmt(value), "start", "val"))
    parts.append("</svg>")
    return "".join(parts)

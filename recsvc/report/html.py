"""The report as one self-contained HTML page: inline CSS and inline SVG drawn here, no network.

Every value from the data (arm names, experiment ids, stages, reasons) goes through ``html.escape``.
Chart ids are stable: ``chart-funnel``, ``chart-rates-<i>``, ``chart-lift-<i>`` (i counts the
experiments in the page's order), ``chart-stage``, ``chart-channel``, ``chart-feedback-ratings``,
``chart-feedback-reasons``. The only script is a self-check that counts the drawn marks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from recsvc.report import svg
from recsvc.report.analysis import ExperimentVerdict
from recsvc.report.data import RATINGS, BreakdownRow, ReportData
from recsvc.report.svg import esc, pct

_METRIC_LABELS = {
    "open_rate": "open rate 打开率",
    "click_rate": "click rate 点击率",
    "conversion_rate": "conversion rate 转化率",
}
# Not needed to draw anything: it counts, per chart, the marks the browser laid out with a non-empty box, so
# a headless browser's DOM dump shows what was really drawn (``data-drawn-marks``).
_SELF_CHECK = (
    "<script>(function(){var n=0;document.querySelectorAll('svg.chart').forEach(function(s){var k=0;"
    "s.querySelectorAll('.bar,.point,.line,.ci,.estimate').forEach(function(m){var b=m.getBBox();"
    "if(b.width>0||b.height>0){k++;}});s.setAttribute('data-drawn-marks',String(k));n++;});"
    "document.body.setAttribute('data-charts-checked',String(n));})();</script>"
)
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Noto Sans CJK SC",sans-serif;margin:0;
 color:#222;background:#f7f7f9}
main{max-width:1000px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:24px;margin:16px 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:16px;margin:18px 0 6px}.muted{color:#666;font-size:13px}
section{background:#fff;border:1px solid #e3e3e8;border-radius:6px;padding:8px 16px 16px;margin-top:16px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{padding:4px 10px;border-bottom:1px solid #eee;
 text-align:right}th:first-child,td:first-child{text-align:left}
.chart{max-width:100%;height:auto;display:block;margin:8px 0}.chart .lbl{font-size:11px;fill:#333}
.chart .tick{font-size:10px;fill:#777}.chart .val{font-size:10px;fill:#333}.chart .grid{stroke:#eee}
.chart .zero{stroke:#999;stroke-dasharray:3 3}.chart .line{stroke-width:2}.chart .ci{stroke-width:3}
.ok{color:#2e7d32;font-weight:600}.bad{color:#c62828;font-weight:600}
"""


def _interval(lo: float, hi: float) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "—"
    return f"[{pct(lo)}, {pct(hi)}]"


def _p(value: float) -> str:
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _funnel_section(data: ReportData) -> str:
    f = data.funnel
    chart = svg.bar_chart("chart-funnel", f.stages(), "funnel: sends, delivered, opened, clicked, converted")
    per_send = f.revenue / f.sends if f.sends else 0.0
    rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{n:,}</td><td>{pct(n / f.sends) if f.sends else '—'}</td></tr>"
        for name, n in f.stages()
    )
    return (
        '<section id="funnel"><h2>Funnel 转化漏斗</h2>'
        f"{chart}<table><tr><th>step</th><th>count</th><th>of sends</th></tr>{rows}</table>"
        f"<p>Revenue 收入: <b>{f.revenue:,.2f}</b> ({per_send:,.4f} per send) · "
        f"Unsubscribes 退订: <b>{f.unsubscribes:,}</b> "
        f"({pct(f.unsubscribes / f.sends) if f.sends else '—'} of sends)</p></section>"
    )


def _rates_chart(i: int, data: ReportData, verdict: ExperimentVerdict) -> str:
    rows = [r for r in data.daily if r.experiment == verdict.experiment]
    days = sorted({r.day for r in rows})
    by_key = {(r.arm, r.day): r for r in rows}
    field = {"open_rate": "opens", "click_rate": "clicks", "conversion_rate": "conversions"}[verdict.metric]
    series = []
    for arm in (a.arm for a in verdict.arms):
        values: list[float | None] = []
        for day in days:
            r = by_key.get((arm, day))
            values.append(getattr(r, field) / r.sends if r is not None and r.sends else None)
        series.append((arm, values))
    label = f"{verdict.metric} per day per arm"
    return svg.line_chart(f"chart-rates-{i}", [d.isoformat()[5:] for d in days], series, label)


def _experiment_table(i: int, verdict: ExperimentVerdict) -> str:
    head = (
        "<tr><th>arm 组</th><th>sends</th><th>rate (95% CI)</th><th>abs. lift (95% CI)</th>"
        "<th>rel. lift (95% CI)</th><th>p (fixed)</th><th>p (sequential)</th><th>always-valid CI (rel.)</th></tr>"
    )
    rows = []
    for a in verdict.arms:
        cells = [
            f"<td>{esc(a.arm)}{' (control 对照)' if a.comparison is None else ''}</td>",
            f"<td>{a.rate.trials:,}</td>",
            f"<td>{pct(a.rate.rate)} {_interval(*a.rate.ci)}</td>",
        ]
        if a.comparison is None or a.sequential is None:
            cells.append('<td colspan="5">—</td>')
        else:
            c, s = a.comparison, a.sequential
            cells += [
                f"<td>{pct(c.absolute_lift)} {_interval(*c.absolute_ci)}</td>",
                f"<td>{pct(c.relative_lift)} {_interval(*c.relative_ci)}</td>",
                f"<td>{_p(c.p_value)}</td>",
                f"<td>{_p(s.p_value)}</td>",
                f"<td>{_interval(*s.ci)}</td>",
            ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    srm = verdict.srm
    srm_cls, srm_text = ("bad", "MISMATCH 样本比例失衡: distrust the lift") if srm.mismatch else ("ok", "OK")
    weights = (
        "an equal split"
        if len(set(verdict.weights)) == 1
        else ", ".join(f"{esc(a.arm)} {w:g}" for a, w in zip(verdict.arms, verdict.weights, strict=True))
    )
    return (
        f'<table id="table-experiment-{i}" class="stats-table">{head}{"".join(rows)}</table>'
        f'<p class="srm" id="srm-{i}">Sample ratio check (planned {weights}): χ² = {srm.chi2:.2f}, '
        f'p = {_p(srm.p_value)} → <span class="{srm_cls}">{srm_text}</span></p>'
    )


def _experiment_section(i: int, data: ReportData, verdict: ExperimentVerdict) -> str:
    forest_rows = [
        (a.arm, a.comparison.relative_lift, *a.comparison.relative_ci) for a in verdict.arms if a.comparison is not None
    ]
    forest = svg.forest_chart(f"chart-lift-{i}", forest_rows, f"relative lift of {verdict.metric} against control")
    metric = _METRIC_LABELS.get(verdict.metric, verdict.metric)
    return (
        f'<section class="experiment" id="experiment-{i}" data-experiment="{esc(verdict.experiment)}">'
        f"<h2>Experiment 实验: {esc(verdict.experiment)}</h2>"
        f'<p class="muted">Metric: {esc(metric)} (per send); control: {esc(verdict.control)}. The fixed p-value is '
        "valid only when read once at the planned sample size; the sequential (mSPRT) p-value and interval stay "
        "valid however often the report is read.</p>"
        f"<h3>{esc(metric)} over time, per arm</h3>{_rates_chart(i, data, verdict)}"
        f"<h3>Lift against control (relative, 95% CI)</h3>{forest}{_experiment_table(i, verdict)}</section>"
    )


def _breakdown_section(title: str, chart_id: str, rows: Sequence[BreakdownRow]) -> str:
    groups = [(r.key or "(none)", (r.open_rate, r.click_rate, r.conversion_rate)) for r in rows]
    chart = svg.grouped_bar_chart(chart_id, groups, ("open rate", "click rate", "conversion rate"), title)
    body = "".join(
        f"<tr><td>{esc(r.key or '(none)')}</td><td>{r.sends:,}</td><td>{pct(r.open_rate)}</td>"
        f"<td>{pct(r.click_rate)}</td><td>{pct(r.conversion_rate)}</td></tr>"
        for r in rows
    )
    head = "<tr><th></th><th>sends</th><th>open</th><th>click</th><th>conversion</th></tr>"
    return f"<h3>{esc(title)}</h3>{chart}<table>{head}{body}</table>"


def _feedback_section(data: ReportData) -> str:
    fb = data.feedback
    ratings = svg.bar_chart(
        "chart-feedback-ratings", [(f"{r}★", n) for r, n in zip(RATINGS, fb.ratings, strict=True)], "ratings 1-5"
    )
    reasons = svg.hbar_chart("chart-feedback-reasons", list(fb.reasons), "feedback reasons")
    mean = f"{fb.mean_rating:.2f}" if fb.answers else "—"
    return (
        '<section id="feedback"><h2>Feedback 用户反馈</h2>'
        f"<p>{fb.answers:,} ratings, mean {mean} / 5</p><h3>Ratings 评分</h3>{ratings}"
        f"<h3>Reasons 原因</h3>{reasons}</section>"
    )


def render_report(
    data: ReportData,
    verdicts: Sequence[ExperimentVerdict],
    title: str = "recsvc push report",
    generated: datetime | None = None,
) -> str:
    """The whole page as a string."""
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    period = f"{data.start} – {data.end}" if data.start else "no sends"
    experiments = "".join(_experiment_section(i, data, v) for i, v in enumerate(verdicts)) or (
        '<section id="experiments"><h2>Experiments 实验</h2><p>No experiment in this period.</p></section>'
    )
    breakdown = (
        '<section id="breakdown"><h2>Breakdown 细分</h2>'
        f"{_breakdown_section('by stage 按生命周期阶段', 'chart-stage', data.by_stage)}"
        f"{_breakdown_section('by channel 按渠道', 'chart-channel', data.by_channel)}</section>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body><main>"
        f'<h1>{esc(title)}</h1><p class="muted">Period 时间段: {esc(period)} · {data.funnel.sends:,} sends · '
        f"generated {esc(when)}</p>"
        f"{_funnel_section(data)}{experiments}{breakdown}{_feedback_section(data)}</main>"
        f"{_SELF_CHECK}</body></html>\n"
    )

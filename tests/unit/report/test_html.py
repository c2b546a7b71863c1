from __future__ import annotations

import re
from datetime import date

from recsvc.report.analysis import judge_all
from recsvc.report.data import ArmTotals, BreakdownRow, DailyArmRow, FeedbackSummary, Funnel, ReportData
from recsvc.report.html import render_report

EVIL = '<script>alert("x")</script>'


def _data(experiment: str = "e1", arm: str = "b") -> ReportData:
    return ReportData(
        start=date(2026, 3, 1),
        end=date(2026, 3, 2),
        funnel=Funnel(sends=100, delivered=90, opened=30, clicked=10, converted=2, revenue=50.0, unsubscribes=1),
        daily=(
            DailyArmRow(experiment, "control", date(2026, 3, 1), 25, 8, 2, 0),
            DailyArmRow(experiment, "control", date(2026, 3, 2), 25, 7, 3, 1),
            DailyArmRow(experiment, arm, date(2026, 3, 1), 25, 8, 3, 0),
            DailyArmRow(experiment, arm, date(2026, 3, 2), 25, 7, 2, 1),
        ),
        arms=(
            ArmTotals(experiment, "control", 50, 45, 15, 5, 1, 20.0, 0),
            ArmTotals(experiment, arm, 50, 45, 15, 5, 1, 30.0, 1),
        ),
        by_stage=(BreakdownRow("loyal", 60, 20, 6, 1), BreakdownRow(EVIL, 40, 10, 4, 1)),
        by_channel=(BreakdownRow("app_push", 100, 30, 10, 2),),
        feedback=FeedbackSummary(ratings=(1, 0, 2, 3, 4), reasons=((EVIL, 2), ("too_many", 1))),
    )


def test_every_chart_has_its_stable_id_and_marks() -> None:
    data = _data()
    page = render_report(data, judge_all(data))
    for chart_id in (
        "chart-funnel",
        "chart-rates-0",
        "chart-lift-0",
        "chart-stage",
        "chart-channel",
        "chart-feedback-ratings",
        "chart-feedback-reasons",
    ):
        assert f'<svg id="{chart_id}" class="chart" data-rendered="1"' in page
    funnel = re.search(r'<svg id="chart-funnel".*?</svg>', page)
    assert funnel is not None and funnel.group(0).count('class="bar"') == 5
    assert 'id="table-experiment-0"' in page and 'id="srm-0"' in page


def test_data_is_escaped_everywhere() -> None:
    data = _data(experiment=EVIL, arm=f"b{EVIL}")
    page = render_report(data, judge_all(data))
    assert page.count("<script") == 1  # the page's own self-check, nothing from the data
    assert 'alert("x")' not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_page_is_self_contained() -> None:
    data = _data()
    page = render_report(data, judge_all(data))
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page


def test_no_experiment_says_so() -> None:
    data = ReportData(start=None, end=None, funnel=Funnel())
    page = render_report(data, ())
    assert "No experiment in this period" in page
    assert 'id="chart-funnel"' in page

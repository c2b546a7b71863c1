"""The report opened in a real headless browser (Debian's ``chromium``): every chart is drawn.

``make chromium`` installs the browser (``make test`` depends on it). Without it the test skips,
except in CI (env ``CI`` set), where it fails: there it must run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from recsvc.report.synthetic import synthetic_feedback, synthetic_sends

CHARTS_AND_MIN_MARKS = {
    "chart-funnel": 5,
    "chart-rates-0": 3 * 14,  # three arms, a point per day (and a line each)
    "chart-lift-0": 4,  # two treatment arms: an interval and an estimate each
    "chart-stage": 5 * 3,
    "chart-channel": 4 * 3,
    "chart-feedback-ratings": 5,
    "chart-feedback-reasons": 3,
}


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "chromium is not installed (run `make chromium`, or apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"chromium is required in CI: {message}", pytrace=False)
        pytest.skip(message)
    return path


class _Dom(HTMLParser):
    """The svg charts of a DOM dump: attributes of each chart and of each mark inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, dict[str, str]] = {}
        self.marks: dict[str, list[tuple[str, dict[str, str]]]] = {}
        self.body: dict[str, str] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        if tag == "svg" and "chart" in a.get("class", "").split():
            self._current = a["id"]
            self.charts[a["id"]] = a
            self.marks[a["id"]] = []
        elif self._current is not None and tag in ("rect", "circle", "path", "line"):
            self.marks[self._current].append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._current = None


def _dump_dom(chromium: str, page: Path, profile: Path) -> str:
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def dom(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> _Dom:
    tmp = tmp_path_factory.mktemp("report")
    sends, feedback, out = tmp / "sends.parquet", tmp / "feedback.parquet", tmp / "report.html"
    synthetic_sends(20_000, seed=9, days=14).to_parquet(sends, index=False)
    synthetic_feedback(500, seed=9).to_parquet(feedback, index=False)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "recsvc.cli",
            "report",
            "--sends",
            str(sends),
            "--feedback",
            str(feedback),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    parsed = _Dom()
    parsed.feed(_dump_dom(chromium, out, tmp / "profile"))
    return parsed


def test_the_self_check_script_ran_over_every_chart(dom: _Dom) -> None:
    assert dom.body.get("data-charts-checked") == str(len(dom.charts))
    assert set(CHARTS_AND_MIN_MARKS) <= set(dom.charts)


@pytest.mark.parametrize(("chart_id", "min_marks"), CHARTS_AND_MIN_MARKS.items())
def test_chart_is_drawn_with_marks(dom: _Dom, chart_id: str, min_marks: int) -> None:
    chart = dom.charts[chart_id]
    assert chart["data-rendered"] == "1"
    # Counted by the browser: marks whose laid-out box is not empty.
    assert int(chart["data-drawn-marks"]) >= min_marks


def test_funnel_has_five_bars_of_positive_decreasing_height(dom: _Dom) -> None:
    bars = [a for tag, a in dom.marks["chart-funnel"] if tag == "rect" and a.get("class") == "bar"]
    heights = [float(a["height"]) for a in bars]
    assert len(heights) == 5 and all(h > 0 for h in heights)
    assert heights == sorted(heights, reverse=True)


def test_rate_lines_have_one_point_per_day_per_arm(dom: _Dom) -> None:
    marks = dom.marks["chart-rates-0"]
    lines = [a for tag, a in marks if tag == "path" and a.get("class") == "line"]
    points = [a for tag, a in marks if a.get("class") == "point"]
    assert len(lines) == 3
    assert all(len(re.findall(r"[ML]", a["d"])) >= 14 for a in lines)
    assert len(points) >= 3 * 14


def test_lift_intervals_have_width(dom: _Dom) -> None:
    cis = [a for tag, a in dom.marks["chart-lift-0"] if a.get("class") == "ci"]
    assert len(cis) == 2
    assert all(float(a["x2"]) > float(a["x1"]) for a in cis)

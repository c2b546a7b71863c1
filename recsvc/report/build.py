"""``recsvc report``: load the attributed sends, build the rows, judge the experiments, write the page.

:func:`load_sends` is the one place that knows where sends come from (a file today, the store once
attribution keeps them); everything after it works on the frame it returns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from recsvc.errors import InvalidArgument
from recsvc.experiments.definitions import Experiment
from recsvc.report.analysis import judge_all
from recsvc.report.data import FEEDBACK_COLUMNS, report_data_from_frames
from recsvc.report.html import render_report
from recsvc.report.synthetic import synthetic_feedback, synthetic_sends

if TYPE_CHECKING:  # the settings import loads model code: seconds a file-only report need not wait
    from recsvc.settings import Settings

_SINCE_RE = re.compile(r"^\s*(\d+)\s*([dh])\s*$")
DEMO_SENDS = 60_000


def parse_since(value: str) -> timedelta:
    """``7d`` or ``24h`` as a positive duration."""
    m = _SINCE_RE.match(value or "")
    if not m or int(m.group(1)) <= 0:
        raise InvalidArgument(
            f"--since must look like 7d or 24h (a positive whole number), got {value!r}", field="since"
        )
    n = int(m.group(1))
    return timedelta(days=n) if m.group(2) == "d" else timedelta(hours=n)


@dataclass(frozen=True)
class Inputs:
    sends: pd.DataFrame
    feedback: pd.DataFrame | None


def load_sends(
    sends_path: str | None,
    feedback_path: str | None = None,
    demo: bool = False,
    *,
    settings: Settings | None = None,
    since: timedelta | None = None,
) -> Inputs:
    """The attributed sends (and feedback answers) the report is drawn from: seeded synthetic ones,
    files, or (with neither) the service's own outcome log in the store ``settings`` name."""
    if demo:
        return Inputs(synthetic_sends(DEMO_SENDS), synthetic_feedback(DEMO_SENDS // 50))
    if not sends_path:
        if settings is None:
            raise InvalidArgument("no sends to report on: pass --sends FILE, --demo, or settings", field="sends")
        return sends_from_store(settings, since)
    from recsvc.data.io import read_table

    sends = read_table(sends_path)
    feedback = read_table(feedback_path) if feedback_path else None
    if feedback is not None:
        missing = [c for c in FEEDBACK_COLUMNS if c not in feedback.columns]
        if missing:
            raise InvalidArgument(f"{feedback_path}: missing column(s) {', '.join(missing)}", field="feedback")
    return Inputs(sends, feedback)


def sends_from_store(settings: Settings, since: timedelta | None = None) -> Inputs:
    """The sends booked through the service (``Recommend`` with reserve, ``campaign --reserve``) with
    the outcomes attributed to them, and the feedback answers of the same period."""
    from recsvc.outcomes import OutcomeLog
    from recsvc.store import is_postgres, open_store

    if not is_postgres(settings.paths.store) and not Path(settings.paths.store).exists():
        raise InvalidArgument(
            f"no store at {settings.paths.store}: pass --sends FILE or --demo, or point paths.store at the "
            "service's store",
            field="paths.store",
        )
    since_ts = (datetime.now(UTC) - since).timestamp() if since is not None else 0.0
    store = open_store(settings.paths.store, settings.postgres)
    try:
        log = OutcomeLog(store, settings.attribution)
        try:
            sends, feedback = log.report_frames(since_ts)
        finally:
            log.close()
    finally:
        store.close()
    return Inputs(sends, feedback)


def _since_filter(sends: pd.DataFrame, since: timedelta | None, now: datetime) -> pd.DataFrame:
    if since is None or "ts" not in sends.columns:
        return sends
    ts = pd.to_datetime(sends["ts"], utc=True, errors="coerce")
    return sends[ts >= pd.Timestamp(now - since)]


def _check_experiment(experiment: str, sends: pd.DataFrame, declared: Sequence[Experiment]) -> None:
    known = set(sends["experiment"].dropna().astype(str).unique()) if "experiment" in sends.columns else set()
    known |= {e.id for e in declared}
    known.discard("")
    if experiment not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise InvalidArgument(f"--experiment: unknown experiment {experiment!r}; known: {listed}", field="experiment")


def build_report(
    inputs: Inputs,
    since: timedelta | None = None,
    experiment: str | None = None,
    declared: Sequence[Experiment] = (),
    now: datetime | None = None,
) -> str:
    """The HTML page. ``experiment`` limits the experiment sections to that one; the funnel and the
    breakdowns still count every send of the period."""
    if experiment is not None:
        _check_experiment(experiment, inputs.sends, declared)
    now = now or datetime.now(UTC)
    sends = _since_filter(inputs.sends, since, now)
    feedback = _since_filter(inputs.feedback, since, now) if inputs.feedback is not None else None
    data = report_data_from_frames(sends, feedback)
    verdicts = judge_all(data, declared)
    if experiment is not None:
        verdicts = tuple(v for v in verdicts if v.experiment == experiment)
    return render_report(data, verdicts)


def write_report(html_text: str, out: str) -> Path:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_text, encoding="utf-8")
    return path

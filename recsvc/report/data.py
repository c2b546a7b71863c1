"""What the report is drawn from: plain frozen rows, easy to fill from SQL aggregates or from a frame.

Nothing here queries a store. :func:`report_data_from_frames` builds a :class:`ReportData` from a
frame of attributed sends (one row per send) with pandas group-bys, so a million sends take seconds;
a store can fill the same rows from ``GROUP BY`` queries instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from recsvc.errors import InvalidArgument

# The columns of a frame of attributed sends; booleans may be 0/1 integers, revenue a float.
SEND_COLUMNS: tuple[str, ...] = (
    "ts",
    "stage",
    "channel",
    "arm",
    "experiment",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "revenue",
    "unsubscribed",
)
OUTCOME_FLAGS: tuple[str, ...] = ("delivered", "opened", "clicked", "converted", "unsubscribed")
FEEDBACK_COLUMNS: tuple[str, ...] = ("rating", "reason")
RATINGS: tuple[int, ...] = (1, 2, 3, 4, 5)
_TRUE_WORDS = ("1", "1.0", "true", "t", "yes", "y")


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass(frozen=True)
class Funnel:
    sends: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    converted: int = 0
    revenue: float = 0.0
    unsubscribes: int = 0

    def stages(self) -> tuple[tuple[str, int], ...]:
        """The five steps of the funnel, widest first."""
        return (
            ("sends", self.sends),
            ("delivered", self.delivered),
            ("opened", self.opened),
            ("clicked", self.clicked),
            ("converted", self.converted),
        )


@dataclass(frozen=True)
class DailyArmRow:
    """One experiment arm on one UTC day."""

    experiment: str
    arm: str
    day: date
    sends: int
    opens: int
    clicks: int
    conversions: int


@dataclass(frozen=True)
class ArmTotals:
    """One experiment arm over the whole period."""

    experiment: str
    arm: str
    sends: int
    delivered: int
    opens: int
    clicks: int
    conversions: int
    revenue: float
    unsubscribes: int

    def successes(self, metric: str) -> int:
        """The numerator of ``metric`` (``open_rate``, ``click_rate`` or ``conversion_rate``); sends divide."""
        return {"open_rate": self.opens, "click_rate": self.clicks, "conversion_rate": self.conversions}[metric]


@dataclass(frozen=True)
class BreakdownRow:
    """One value of a dimension (a stage, a channel) with its counts; the rates are per send."""

    key: str
    sends: int
    opens: int
    clicks: int
    conversions: int

    @property
    def open_rate(self) -> float:
        return _share(self.opens, self.sends)

    @property
    def click_rate(self) -> float:
        return _share(self.clicks, self.sends)

    @property
    def conversion_rate(self) -> float:
        return _share(self.conversions, self.sends)


@dataclass(frozen=True)
class FeedbackSummary:
    ratings: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)  # how many answers scored 1..5
    reasons: tuple[tuple[str, int], ...] = ()  # most frequent first

    @property
    def answers(self) -> int:
        return sum(self.ratings)

    @property
    def mean_rating(self) -> float:
        return _share(sum(r * n for r, n in zip(RATINGS, self.ratings, strict=True)), self.answers)


@dataclass(frozen=True)
class ReportData:
    start: date | None
    end: date | None
    funnel: Funnel
    daily: tuple[DailyArmRow, ...] = ()
    arms: tuple[ArmTotals, ...] = ()
    by_stage: tuple[BreakdownRow, ...] = ()
    by_channel: tuple[BreakdownRow, ...] = ()
    feedback: FeedbackSummary = field(default_factory=FeedbackSummary)

    def experiments(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.experiment for a in self.arms))


# ---- from a frame of attributed sends -------------------------------------------------------
def _check_columns(df: pd.DataFrame, required: Iterable[str], what: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InvalidArgument(f"{what}: missing column(s) {', '.join(missing)}", field=what)


def _flag(values: pd.Series) -> pd.Series:
    """0/1 from booleans, numbers, or the words a CSV file holds ("true", "1", "yes")."""
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        return values.astype(str).str.strip().str.lower().isin(_TRUE_WORDS).astype(np.int64)
    return values.fillna(0).astype(bool).astype(np.int64)


def _category(values: pd.Series) -> pd.Series:
    """Text as a category with string labels and "" for missing; cheap when it already is a category."""
    cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    labels = cat.cat.categories.astype(str)
    if labels.has_duplicates:  # 1 and "1" would be one label: only a full conversion merges them
        return values.fillna("").astype(str).astype("category")
    cat = cat.cat.rename_categories(labels)
    if cat.isna().any():
        cat = (cat if "" in labels else cat.cat.add_categories([""])).fillna("")
    return cat


def _counts_frame(sends: pd.DataFrame) -> pd.DataFrame:
    """The outcome flags as int64 and revenue as float64, with the text columns as categories."""
    out = pd.DataFrame(index=sends.index)
    for col in OUTCOME_FLAGS:
        out[col] = _flag(sends[col])
    out["revenue"] = pd.to_numeric(sends["revenue"], errors="coerce").fillna(0.0).astype(np.float64)
    for col in ("stage", "channel", "experiment", "arm"):
        out[col] = _category(sends[col])
    ts = pd.to_datetime(sends["ts"], utc=True, errors="coerce")
    if ts.isna().any():
        row = int(ts.isna().to_numpy().argmax())
        raise InvalidArgument(f"sends: row {row + 1}: unparsable ts {sends['ts'].iloc[row]!r}", field="ts")
    out["day"] = ts.dt.floor("D")
    return out


def _funnel(c: pd.DataFrame) -> Funnel:
    s = c[list(OUTCOME_FLAGS)].sum()
    return Funnel(
        sends=len(c),
        delivered=int(s["delivered"]),
        opened=int(s["opened"]),
        clicked=int(s["clicked"]),
        converted=int(s["converted"]),
        revenue=float(c["revenue"].sum()),
        unsubscribes=int(s["unsubscribed"]),
    )


def _grouped(c: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    g = c.groupby(keys, observed=True, sort=True)
    agg = g[list(OUTCOME_FLAGS)].sum()
    agg["revenue"] = g["revenue"].sum()
    agg["sends"] = g.size()
    return agg.reset_index()


def _breakdown(c: pd.DataFrame, key: str) -> tuple[BreakdownRow, ...]:
    agg = _grouped(c, [key]).sort_values(["sends", key], ascending=[False, True])
    return tuple(
        BreakdownRow(str(k), int(n), int(o), int(cl), int(cv))
        for k, n, o, cl, cv in zip(agg[key], agg["sends"], agg["opened"], agg["clicked"], agg["converted"], strict=True)
    )


def _arms(c: pd.DataFrame) -> tuple[ArmTotals, ...]:
    agg = _grouped(c, ["experiment", "arm"])
    return tuple(
        ArmTotals(
            experiment=str(r.experiment),
            arm=str(r.arm),
            sends=int(r.sends),
            delivered=int(r.delivered),
            opens=int(r.opened),
            clicks=int(r.clicked),
            conversions=int(r.converted),
            revenue=float(r.revenue),
            unsubscribes=int(r.unsubscribed),
        )
        for r in agg.itertuples(index=False)
    )


def _daily(c: pd.DataFrame) -> tuple[DailyArmRow, ...]:
    agg = _grouped(c, ["experiment", "arm", "day"])
    return tuple(
        DailyArmRow(
            str(r.experiment), str(r.arm), r.day.date(), int(r.sends), int(r.opened), int(r.clicked), int(r.converted)
        )
        for r in agg.itertuples(index=False)
    )


def feedback_from_frame(feedback: pd.DataFrame | None) -> FeedbackSummary:
    """Ratings 1-5 counted (others ignored) and reasons counted, most frequent first."""
    if feedback is None or feedback.empty:
        return FeedbackSummary()
    _check_columns(feedback, FEEDBACK_COLUMNS, "feedback")
    ratings = pd.to_numeric(feedback["rating"], errors="coerce")
    counts = ratings[ratings.isin(RATINGS)].astype(int).value_counts()
    hist = tuple(int(counts.get(r, 0)) for r in RATINGS)
    reasons = feedback["reason"].dropna().astype(str).str.strip()
    reasons = reasons[reasons != ""].value_counts()
    ordered = sorted(((str(k), int(v)) for k, v in reasons.items()), key=lambda kv: (-kv[1], kv[0]))
    return FeedbackSummary(ratings=hist, reasons=tuple(ordered))  # type: ignore[arg-type]


def report_data_from_frames(sends: pd.DataFrame, feedback: pd.DataFrame | None = None) -> ReportData:
    """The report's rows from attributed sends (columns :data:`SEND_COLUMNS`) and feedback answers.

    Sends without an experiment (empty or missing ``experiment``) count in the funnel and the
    breakdowns but in no arm.
    """
    _check_columns(sends, SEND_COLUMNS, "sends")
    c = _counts_frame(sends)
    in_experiment = c[(c["experiment"] != "") & (c["arm"] != "")]
    days = c["day"]
    return ReportData(
        start=days.min().date() if len(c) else None,
        end=days.max().date() if len(c) else None,
        funnel=_funnel(c),
        daily=_daily(in_experiment),
        arms=_arms(in_experiment),
        by_stage=_breakdown(c, "stage"),
        by_channel=_breakdown(c, "channel"),
        feedback=feedback_from_frame(feedback),
    )

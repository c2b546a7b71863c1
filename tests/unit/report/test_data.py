from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from recsvc.errors import InvalidArgument
from recsvc.report.data import (
    ArmTotals,
    BreakdownRow,
    DailyArmRow,
    FeedbackSummary,
    Funnel,
    feedback_from_frame,
    report_data_from_frames,
)


def _sends() -> pd.DataFrame:
    rows = [
        # ts, stage, channel, arm, experiment, delivered, opened, clicked, converted, revenue, unsubscribed
        ("2026-03-01T08:00:00Z", "interest", "app_push", "control", "e1", 1, 1, 1, 1, 30.0, 0),
        ("2026-03-01T09:00:00Z", "interest", "app_push", "control", "e1", 1, 1, 0, 0, 0.0, 0),
        ("2026-03-01T23:59:00Z", "loyal", "email", "b", "e1", 1, 0, 0, 0, 0.0, 1),
        ("2026-03-02T00:01:00Z", "loyal", "app_push", "b", "e1", 1, 1, 1, 0, 0.0, 0),
        ("2026-03-02T10:00:00Z", "loyal", "sms", "control", "e1", 0, 0, 0, 0, 0.0, 0),
        ("2026-03-02T11:00:00Z", "churning", "app_push", None, None, 1, 1, 1, 1, 12.5, 0),
    ]
    cols = [
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
    ]
    return pd.DataFrame(rows, columns=cols)


def test_funnel_counts_every_send_including_those_outside_experiments() -> None:
    data = report_data_from_frames(_sends())
    assert data.funnel == Funnel(sends=6, delivered=5, opened=4, clicked=3, converted=2, revenue=42.5, unsubscribes=1)
    assert (data.start, data.end) == (date(2026, 3, 1), date(2026, 3, 2))


def test_arm_totals_only_count_sends_in_an_experiment() -> None:
    data = report_data_from_frames(_sends())
    assert data.arms == (
        ArmTotals("e1", "b", sends=2, delivered=2, opens=1, clicks=1, conversions=0, revenue=0.0, unsubscribes=1),
        ArmTotals(
            "e1", "control", sends=3, delivered=2, opens=2, clicks=1, conversions=1, revenue=30.0, unsubscribes=0
        ),
    )
    assert data.experiments() == ("e1",)


def test_daily_rows_split_at_utc_midnight() -> None:
    data = report_data_from_frames(_sends())
    assert data.daily == (
        DailyArmRow("e1", "b", date(2026, 3, 1), 1, 0, 0, 0),
        DailyArmRow("e1", "b", date(2026, 3, 2), 1, 1, 1, 0),
        DailyArmRow("e1", "control", date(2026, 3, 1), 2, 2, 1, 1),
        DailyArmRow("e1", "control", date(2026, 3, 2), 1, 0, 0, 0),
    )


def test_breakdowns_are_largest_first_with_rates_per_send() -> None:
    data = report_data_from_frames(_sends())
    assert data.by_stage == (
        BreakdownRow("loyal", 3, 1, 1, 0),
        BreakdownRow("interest", 2, 2, 1, 1),
        BreakdownRow("churning", 1, 1, 1, 1),
    )
    assert [r.key for r in data.by_channel] == ["app_push", "email", "sms"]
    push = data.by_channel[0]
    assert (push.sends, push.open_rate, push.click_rate, push.conversion_rate) == (4, 1.0, 0.75, 0.5)


def test_flags_read_from_csv_words_are_not_all_true() -> None:
    """A CSV file gives strings; "False" must count as 0, not as a non-empty (truthy) string."""
    df = _sends().astype({c: str for c in ("delivered", "opened", "clicked", "converted", "unsubscribed")})
    df["opened"] = df["opened"].map({"1": "True", "0": "False"})
    df["revenue"] = df["revenue"].astype(str)
    data = report_data_from_frames(df)
    assert data.funnel == Funnel(sends=6, delivered=5, opened=4, clicked=3, converted=2, revenue=42.5, unsubscribes=1)


def test_missing_column_is_named() -> None:
    with pytest.raises(InvalidArgument, match=r"missing column\(s\) arm"):
        report_data_from_frames(_sends().drop(columns=["arm"]))


def test_empty_frame_gives_an_empty_report() -> None:
    data = report_data_from_frames(_sends().iloc[:0])
    assert data.funnel == Funnel()
    assert data.start is None and data.arms == () and data.by_stage == ()


def test_feedback_histogram_ignores_out_of_range_ratings_and_orders_reasons() -> None:
    fb = pd.DataFrame(
        {"rating": [5, 5, 1, 3, 7, None, "2"], "reason": ["too_many", None, "bad_time", "too_many", "", "x", "  "]}
    )
    summary = feedback_from_frame(fb)
    assert summary == FeedbackSummary(ratings=(1, 1, 1, 0, 2), reasons=(("too_many", 2), ("bad_time", 1), ("x", 1)))
    assert summary.answers == 5
    assert summary.mean_rating == pytest.approx((5 + 5 + 1 + 3 + 2) / 5)
    assert feedback_from_frame(None) == FeedbackSummary()


def test_unparsable_time_names_the_row() -> None:
    df = _sends()
    df.loc[2, "ts"] = "yesterday-ish"
    with pytest.raises(InvalidArgument, match="row 3: unparsable ts 'yesterday-ish'"):
        report_data_from_frames(df)


def test_categorical_columns_with_missing_values_give_the_same_rows() -> None:
    plain = _sends()
    as_categories = plain.astype({c: "category" for c in ("stage", "channel", "arm", "experiment")})
    assert report_data_from_frames(as_categories) == report_data_from_frames(plain)

"""The outcome log read as the report's frames, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from recsvc.report.data import FEEDBACK_COLUMNS, SEND_COLUMNS, report_data_from_frames
from tests.unit.outcomes.conftest import T0, OutcomeDbFactory, event, record

H = timedelta(hours=1)


def test_sends_with_their_outcomes_and_feedback_answers(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs()
    db.book(record("p1", user="a", experiment="copy", arm="b"))
    db.book(record("p2", user="b", experiment="copy", arm="control", stage="churning"))
    db.book(record("old", user="c", booked=T0 - 48 * H))
    db.report(
        event("d1", "push_delivered", T0 + 2 * H, user="a", dedupe_key="p1"),
        event("o1", "push_opened", T0 + 2 * H, user="a", dedupe_key="p1"),
        event("b1", "purchase", T0 + 3 * H, user="a", value=20.0),
        event("f1", "feedback", T0 + 3 * H, user="b", payload='{"rating": 2, "reasons": ["too_many", "bad_time"]}'),
        event("f2", "feedback", T0 + 3 * H, user="b", payload='{"rating": 5}'),
    )
    sends, feedback = db.log.report_frames((T0 - H).timestamp())
    assert set(SEND_COLUMNS) <= set(sends.columns) and set(FEEDBACK_COLUMNS) <= set(feedback.columns)
    by_arm = sends.set_index("arm")
    assert sorted(by_arm.index) == ["b", "control"]  # the send booked before the period is left out
    a = by_arm.loc["b"]
    assert (bool(a.delivered), bool(a.opened), bool(a.clicked), bool(a.converted), float(a.revenue)) == (
        True, True, False, True, 20.0,
    )  # fmt: skip
    assert not bool(by_arm.loc["control"].opened) and by_arm.loc["control"].stage == "churning"
    data = report_data_from_frames(sends, feedback)
    assert data.feedback.ratings == (0, 1, 0, 0, 1)  # each answer's rating once, though it gave two reasons
    assert dict(data.feedback.reasons) == {"too_many": 1, "bad_time": 1}

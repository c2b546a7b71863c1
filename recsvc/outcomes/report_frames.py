"""The outcome log as the report's frames: one row per booked send, one per feedback answer.

Sends are those booked since a time (all when none is given); a send's outcome is whether an
attributed event of that kind arrived. Feedback answers are the ``feedback`` events of the same
period, rating and first reason on one row and any further reason on a row of its own, so that
ratings count once and every reason counts.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from recsvc.feedback.payload import read_payload

_SENDS_SQL = (
    "SELECT booked_at, stage, channel, arm, experiment, delivered_at, opened_at, clicked_at, converted_at, "
    "revenue, unsubscribed_at FROM outcome_sends WHERE booked_at >= ?"
)
_FEEDBACK_SQL = "SELECT payload FROM events WHERE event_type = 'feedback' AND ts >= ?"


def sends_frame(cur: Any, since_ts: float) -> pd.DataFrame:
    rows = cur.execute(_SENDS_SQL, (since_ts,)).fetchall()
    cols = [
        "booked_at",
        "stage",
        "channel",
        "arm",
        "experiment",
        "delivered_at",
        "opened_at",
        "clicked_at",
        "converted_at",
        "revenue",
        "unsubscribed_at",
    ]
    raw = pd.DataFrame([tuple(r) for r in rows], columns=cols)
    out = pd.DataFrame(
        {
            "ts": pd.to_datetime(raw["booked_at"].astype(float), unit="s", utc=True),
            "stage": raw["stage"].astype(str),
            "channel": raw["channel"].astype(str),
            "arm": raw["arm"].astype(str),
            "experiment": raw["experiment"].astype(str),
            "revenue": raw["revenue"].astype(float),
        }
    )
    for flag, col in (
        ("delivered", "delivered_at"),
        ("opened", "opened_at"),
        ("clicked", "clicked_at"),
        ("converted", "converted_at"),
        ("unsubscribed", "unsubscribed_at"),
    ):
        out[flag] = raw[col].notna()
    return out


def feedback_frame(cur: Any, since_ts: float) -> pd.DataFrame:
    answers: list[tuple[float | None, str | None]] = []
    for (payload,) in cur.execute(_FEEDBACK_SQL, (since_ts,)).fetchall():
        p = read_payload(payload)
        if p is None:
            continue
        reasons = p.reasons or (None,)
        answers.append((p.rating, reasons[0]))
        answers.extend((None, r) for r in reasons[1:])
    return pd.DataFrame(answers, columns=["rating", "reason"])

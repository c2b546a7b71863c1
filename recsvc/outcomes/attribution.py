"""Which booked send an incoming event answers, and what it changes in that send's outcome.

An event is joined to its send, in this order of evidence:

1. the caller's ``dedupe_key`` (the candidate's key from ``Recommend``): that send of that user, and no
   other, if the event is not later than the send's planned time plus the event's window;
2. else the event's ``campaign_id``: the user's sends of that campaign whose window holds the event;
3. else the user's sends whose window holds the event.

In 2 and 3 a send is eligible from its booking until its planned time plus the window, on the
channels the event belongs to (push events: app push and in-app; SMS and email events: their
channel; an unsubscribe naming a channel: that channel; purchases and feedback: any). Of several, the
attribution model picks one: ``last_touch`` the latest planned at or before the event (else the
nearest after it), ``first_touch`` the earliest. Late events (after every window) stay unattributed.

Each attributed event id is written to ``outcome_events`` first; only an event id written for the
first time changes the send, so a replayed or re-sent event counts once. A send's delivery, open,
click, conversion, dismissal and unsubscribe are the *first* such time, so a second open of the same
send is one open; purchases add to the send's purchase count and revenue (the event's ``value``), and
feedback to its count and rating sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from recsvc.feedback.payload import read_payload
from recsvc.outcomes.config import AttributionConfig
from recsvc.store.cursor import qmark
from recsvc.vocabulary import CLICK_EVENT_TYPES

_PUSH = ("app_push", "in_app")


@dataclass(frozen=True)
class Rule:
    """What an event type does to its send: the first-time column it sets, its window, its channels."""

    first_at: str | None  # outcome_sends column holding the first such time (None: feedback)
    window: str  # AttributionConfig field, in hours
    channels: tuple[str, ...] = ()  # () = any channel
    own_channel: bool = False  # an event naming a channel only matches sends on it


RULES: Mapping[str, Rule] = {
    "push_delivered": Rule("delivered_at", "open_window_h", _PUSH, own_channel=True),
    "push_opened": Rule("opened_at", "open_window_h", _PUSH, own_channel=True),
    "push_dismissed": Rule("dismissed_at", "open_window_h", _PUSH, own_channel=True),
    "push_clicked": Rule("clicked_at", "click_window_h", _PUSH, own_channel=True),
    "sms_clicked": Rule("clicked_at", "click_window_h", ("sms",)),
    "email_opened": Rule("opened_at", "open_window_h", ("email",)),
    "email_clicked": Rule("clicked_at", "click_window_h", ("email",)),
    "purchase": Rule("converted_at", "conversion_window_h"),
    "unsubscribe": Rule("unsubscribed_at", "unsubscribe_window_h", own_channel=True),
    "feedback": Rule(None, "feedback_window_h"),
}
ATTRIBUTED_EVENT_TYPES: tuple[str, ...] = tuple(RULES)


@dataclass(frozen=True)
class Attribution:
    event_id: str
    dedupe_key: str
    method: str  # one of vocabulary.ATTRIBUTION_METHODS
    first_click: bool = False  # the send's first click (bandits learn once per send)


def attribute_events(
    cur: Any, rows: Sequence[Mapping[str, Any]], keys: Mapping[str, str], config: AttributionConfig
) -> list[Attribution]:
    """Attribute newly stored events (store rows) with the store's cursor, inside the transaction that
    stores them. ``keys`` maps event ids to the dedupe key their caller gave. Idempotent."""
    c = qmark(cur)
    done: list[Attribution] = []
    for r in rows:
        rule = RULES.get(str(r["event_type"]))
        if rule is None:
            continue
        found = _find_send(c, r, keys.get(str(r["event_id"]), ""), rule, config)
        if found is None:
            continue
        att = Attribution(str(r["event_id"]), *found)
        if _claim(c, att, r):
            if r["event_type"] in CLICK_EVENT_TYPES:
                att = replace(att, first_click=_not_clicked(c, att.dedupe_key))
            _apply(c, att.dedupe_key, r, rule)
            done.append(att)
    return done


def _find_send(c: Any, r: Mapping[str, Any], key: str, rule: Rule, config: AttributionConfig) -> tuple[str, str] | None:
    """(dedupe key, method) of the send ``r`` answers, or None."""
    ts, uid = float(r["ts"]), str(r["user_id"])
    window_s = float(getattr(config, rule.window)) * 3600.0
    if key:
        row = c.execute("SELECT planned_at FROM outcome_sends WHERE dedupe_key=? AND user_id=?", (key, uid)).fetchone()
        return (key, "dedupe_key") if row is not None and ts <= float(row[0]) + window_s else None
    where = ["user_id=?", "booked_at<=?", "planned_at>=?"]
    params: list[Any] = [uid, ts, ts - window_s]
    campaign = str(r.get("campaign_id") or "")
    if campaign:
        where.append("campaign_id=?")
        params.append(campaign)
    channels = _channels(rule, r)
    if channels:
        where.append(f"channel IN ({','.join('?' * len(channels))})")
        params.extend(channels)
    if config.model == "first_touch":
        order = "planned_at, booked_at, dedupe_key"
    else:  # the latest send already planned by the event's time, else the nearest one after it
        order = "CASE WHEN planned_at <= ? THEN 0 ELSE 1 END, ABS(planned_at - ?), booked_at DESC, dedupe_key"
        params.extend((ts, ts))
    sql = f"SELECT dedupe_key FROM outcome_sends WHERE {' AND '.join(where)} ORDER BY {order} LIMIT 1"
    row = c.execute(sql, params).fetchone()
    return None if row is None else (str(row[0]), "campaign" if campaign else "window")


def _channels(rule: Rule, r: Mapping[str, Any]) -> tuple[str, ...]:
    own = str(r.get("channel") or "")
    if rule.own_channel and own and (not rule.channels or own in rule.channels):
        return (own,)
    return rule.channels


def _claim(c: Any, att: Attribution, r: Mapping[str, Any]) -> bool:
    """Record the event's attribution; False when this event id was attributed before."""
    cur = c.execute(
        "INSERT INTO outcome_events (event_id, dedupe_key, event_type, ts, method) VALUES (?,?,?,?,?) "
        "ON CONFLICT (event_id) DO NOTHING",
        (att.event_id, att.dedupe_key, str(r["event_type"]), float(r["ts"]), att.method),
    )
    return int(cur.rowcount) == 1


def _not_clicked(c: Any, key: str) -> bool:
    row = c.execute("SELECT clicked_at FROM outcome_sends WHERE dedupe_key=?", (key,)).fetchone()
    return row is not None and row[0] is None


def _apply(c: Any, key: str, r: Mapping[str, Any], rule: Rule) -> None:
    ts = float(r["ts"])
    sets: list[str] = []
    params: list[Any] = []
    if rule.first_at is not None:
        col = rule.first_at
        sets.append(f"{col} = CASE WHEN {col} IS NULL OR {col} > ? THEN ? ELSE {col} END")
        params.extend((ts, ts))
    if r["event_type"] == "purchase":
        sets += ["purchases = purchases + 1", "revenue = revenue + ?"]
        params.append(float(r.get("value") or 0.0))
    elif r["event_type"] == "feedback":
        sets.append("feedback_n = feedback_n + 1")
        rating = _survey_score(r.get("payload"))
        if rating is not None:
            sets += ["score_n = score_n + 1", "score_sum = score_sum + ?"]
            params.append(rating)
    c.execute(f"UPDATE outcome_sends SET {', '.join(sets)} WHERE dedupe_key=?", (*params, key))


def _survey_score(payload: object) -> float | None:
    """The 1-5 rating of a stored feedback payload; None without one (or with one stored before checks
    that is outside the scale, which a mean score must not take in)."""
    p = read_payload(payload)
    return p.rating if p is not None and p.rating is not None and 1 <= p.rating <= 5 else None

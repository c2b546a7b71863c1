"""Channel choice: the reachable, permitted channel with the best expected value per send.

Value = smoothed response rate of this user on the channel x value of a response - cost of a send.
The user's own rate is shrunk toward a prior rate per channel (beta prior of strength
``channel_prior_strength``), so one lucky click does not move everything to SMS. Ties go to the
cheaper, less intrusive channel (app_push, in_app, email, sms).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from recsvc.errors import InvalidArgument
from recsvc.frequency.config import FrequencyConfig
from recsvc.vocabulary import CHANNELS

logger = logging.getLogger(__name__)

# Which events are a response on which channel (channel column wins when present).
_RESPONSE_CHANNEL = {
    "push_opened": "app_push",
    "push_clicked": "app_push",
    "sms_clicked": "sms",
    "email_opened": "email",
    "email_clicked": "email",
}


@dataclass(frozen=True)
class ChannelStats:
    """Sends and responses of one user on one channel."""

    sent: float = 0.0
    responded: float = 0.0


@dataclass(frozen=True)
class ChannelChoice:
    """The chosen channel (None if none is possible), why, and every channel's score or exclusion."""

    channel: str | None
    reason: str
    scores: dict[str, float] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    fallback: bool = False


def channel_stats(events: pd.DataFrame, user_id: str, since: datetime | None = None) -> dict[str, ChannelStats]:
    """Per-channel sends (``push_delivered`` rows, by their channel) and responses of one user."""
    ev = events[events["user_id"].astype(str) == str(user_id)]
    if since is not None:
        ev = ev[ev["ts"] >= pd.Timestamp(since)]
    ch = ev["channel"].astype("string") if "channel" in ev.columns else pd.Series(pd.NA, index=ev.index)
    sent_ch = ch.fillna("app_push")
    out: dict[str, ChannelStats] = {}
    for c in CHANNELS:
        sent = float(((ev["event_type"] == "push_delivered") & (sent_ch == c)).sum())
        resp_ch = ch.fillna(ev["event_type"].map(_RESPONSE_CHANNEL))
        responded = float((ev["event_type"].isin(list(_RESPONSE_CHANNEL)) & (resp_ch == c)).sum())
        out[c] = ChannelStats(sent, min(responded, sent) if sent > 0 else 0.0)
    return out


def channel_stats_from(pairs: Iterable[tuple[str, str | None]]) -> dict[str, ChannelStats]:
    """Like :func:`channel_stats`, from one user's ``(event_type, channel)`` pairs (no pandas: per request)."""
    sent: dict[str, float] = dict.fromkeys(CHANNELS, 0.0)
    resp: dict[str, float] = dict.fromkeys(CHANNELS, 0.0)
    for etype, channel in pairs:
        if etype == "push_delivered":
            c = channel or "app_push"
            if c in sent:
                sent[c] += 1
        elif etype in _RESPONSE_CHANNEL:
            c = channel or _RESPONSE_CHANNEL[etype]
            if c in resp:
                resp[c] += 1
    return {c: ChannelStats(sent[c], min(resp[c], sent[c]) if sent[c] > 0 else 0.0) for c in CHANNELS}


def choose_channel(
    *,
    opt_in: Mapping[str, bool],
    reachable: Mapping[str, bool],
    allowed: Iterable[str] | None = None,
    unsubscribed: Iterable[str] = (),
    stats: Mapping[str, ChannelStats] | None = None,
    preferred: str | None = None,
    config: FrequencyConfig | None = None,
) -> ChannelChoice:
    """Pick a channel; missing opt-in/reachability entries count as False (never send blind).

    ``preferred`` (usually ``app_push``) is taken if possible; otherwise the best remaining channel
    is a fallback and the reason says why the preferred one was skipped.
    """
    cfg = config or FrequencyConfig()
    allow = set(CHANNELS) if allowed is None else {str(c).strip().lower() for c in allowed}
    for c in allow:
        if c not in CHANNELS:
            raise InvalidArgument(
                f"allowed_channels: unknown channel {c!r} (known: {', '.join(CHANNELS)})",
                field="allowed_channels",
            )
    if preferred is not None and preferred not in CHANNELS:
        raise InvalidArgument(f"preferred: unknown channel {preferred!r}", field="preferred")
    unsub = {str(c).strip().lower() for c in unsubscribed}
    costs, priors = dict(cfg.channel_costs), dict(cfg.channel_prior_rates)
    excluded: dict[str, str] = {}
    scores: dict[str, float] = {}
    for c in CHANNELS:
        if c not in allow:
            excluded[c] = "not allowed by the request"
        elif c in unsub or "*" in unsub:
            excluded[c] = "user unsubscribed"
        elif not opt_in.get(c, c == "in_app"):
            excluded[c] = "user has not opted in"
        elif not reachable.get(c, False):
            excluded[c] = "no device/address to reach the user"
        else:
            st = (stats or {}).get(c, ChannelStats())
            prior = priors.get(c, 0.02)
            rate = (st.responded + cfg.channel_prior_strength * prior) / (st.sent + cfg.channel_prior_strength)
            scores[c] = rate * cfg.value_per_response - costs.get(c, 0.0)
    if not scores:
        why = "; ".join(f"{c}: {r}" for c, r in excluded.items())
        return ChannelChoice(None, f"no channel can reach this user ({why})", scores, excluded)
    if preferred in scores:
        return ChannelChoice(preferred, f"{preferred}: preferred channel is available", scores, excluded)
    order = {c: i for i, c in enumerate(("app_push", "in_app", "email", "sms"))}
    best = max(scores, key=lambda c: (scores[c], -order[c]))
    if preferred is not None:
        reason = f"{best}: fallback, {preferred} skipped ({excluded.get(preferred, 'unavailable')})"
        return ChannelChoice(best, reason, scores, excluded, fallback=True)
    return ChannelChoice(best, f"{best}: highest expected value per send ({scores[best]:.4f})", scores, excluded)

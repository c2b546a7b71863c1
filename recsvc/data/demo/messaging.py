"""Push, SMS and email campaigns of the demo app and the users' responses to them.

Pushes are where the send-time signal lives: half of the sends use the campaign's hour, half an
exploring random hour (both local, deferred out of quiet hours), and the chance to open rises
with how close that hour is to the user's peak hours. SMS and email are one kind of campaign
(:class:`_SmsOrEmail`) with channel-specific numbers: who is reached, who answers and when, and
whether a click and an unsubscribe are observable separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from recsvc.data.demo.events import CHANNEL_CODE, EventParts
from recsvc.data.demo.tables import CATEGORIES
from recsvc.data.demo.world import DAY, World, hour_match, local_seconds, to_utc

Array = np.ndarray[Any, Any]

# channel -> its users.csv opt-in column
_OPT_IN_COLUMN = {"app_push": "push_opt_in", "sms": "sms_opt_in", "email": "email_opt_in"}


@dataclass(frozen=True)
class _Click:
    """A click on a message that was opened first (observable separately from the open)."""

    event: str
    p: float  # chance to click: p + p_taste * (category is a favourite)
    p_taste: float
    delay_s: tuple[int, int]  # after the open


@dataclass(frozen=True)
class _SmsOrEmail:
    """The numbers of an SMS or email campaign (sent for the category's most popular item)."""

    channel: str  # CHANNELS name, also the campaign id prefix
    reach: float  # share of opted-in users one campaign goes to
    # answer logit: intercept + engaged * engagement + taste * (category is a favourite) + affinity * email affinity
    intercept: float
    engaged: float
    taste: float
    affinity: float
    answer_event: str  # the first response the app observes
    send_hour: int  # local
    read_delay_s: tuple[int, int] | None  # answered this long after the send; None: at the next active moment
    click: _Click | None  # None: the answer is the click itself
    unsubscribe_p: float  # per send, times (1.5 - engagement); 0: the channel shows no unsubscribe


_SMS = _SmsOrEmail(
    channel="sms",
    reach=0.7,
    intercept=-4.2,
    engaged=1.8,
    taste=0.6,
    affinity=0.0,
    answer_event="sms_clicked",  # only the click on the link in an SMS is observable
    send_hour=11,
    read_delay_s=(60, 3 * 3600),
    click=None,
    unsubscribe_p=0.0,
)
_EMAIL = _SmsOrEmail(
    channel="email",
    reach=0.9,
    intercept=-3.4,
    engaged=2.2,
    taste=0.0,
    affinity=0.7,
    answer_event="email_opened",
    send_hour=10,
    read_delay_s=None,
    click=_Click(event="email_clicked", p=0.15, p_taste=0.2, delay_s=(10, 120)),
    unsubscribe_p=0.0015,
)


@dataclass(frozen=True)
class _Day:
    """What a campaign on one day needs to know about every user."""

    day: int
    stamp: str  # YYYYMMDD, for campaign ids
    day_per_user: Array  # ``day`` for every user, for the clock helpers
    signed: Array  # signed up before the day before the send
    engagement: Array
    recent: Array  # seen in the last 45 days


def run_campaigns(
    w: World, users: pd.DataFrame, parts: EventParts, eng: Array, last: Array, signup_t: Array, rng: np.random.Generator
) -> tuple[Array, Array, Array, list[str]]:
    """Push, SMS and email campaigns over the window.

    Returns the sessions their clicks start (user, t, item) and the campaign ids; turns the
    users' opt-ins off where they unsubscribed (the file shows the state at the end).
    """
    cfg = w.cfg
    run = _Campaigns(w, users, parts, rng)
    push_days = rng.random(cfg.days) < cfg.push_per_week / 7
    sms_days = rng.random(cfg.days) < cfg.sms_per_week / 7
    email_days = rng.random(cfg.days) < cfg.email_per_week / 7
    start_date = datetime.fromtimestamp(w.start, UTC).date()
    for day in range(cfg.days):
        recent = (day - last[:, max(day - 1, 0)]) <= 45 if day > 0 else w.life.signup_day < 0
        today = _Day(
            day=day,
            stamp=(start_date + timedelta(days=day)).strftime("%Y%m%d"),
            day_per_user=np.full(cfg.n_users, day, dtype=np.int64),
            signed=signup_t < w.start + (day - 1) * DAY,
            engagement=eng[:, day],
            recent=recent,
        )
        if push_days[day]:
            run.push(today)
        if sms_days[day]:
            run.sms_or_email(today, _SMS)
        if email_days[day]:
            run.sms_or_email(today, _EMAIL)
    for channel, column in _OPT_IN_COLUMN.items():
        users[column] = run.opted_in[channel]
    return (*run.sessions(), run.campaigns)


class _Campaigns:
    """The state campaigns share over the window: opt-ins, dismissals, ids and the sessions that
    clicks start."""

    def __init__(self, w: World, users: pd.DataFrame, parts: EventParts, rng: np.random.Generator) -> None:
        self.w, self.parts, self.rng = w, parts, rng
        n = w.cfg.n_users
        self.opted_in = {ch: users[col].to_numpy(bool).copy() for ch, col in _OPT_IN_COLUMN.items()}
        qs, qe = _quiet_bounds(users["quiet_hours"])
        self.quiet_start, self.quiet_end = qs, qe
        self.dismissed = np.zeros(n)
        self.favourite = np.zeros((n, len(CATEGORIES)), dtype=bool)  # (user, category)
        for k in range(3):
            rows = np.flatnonzero(w.taste.n_prefs > k)
            self.favourite[rows, w.taste.prefs[rows, k]] = True
        self.everywhere = w.shop.sellable.all(axis=1) & w.shop.in_stock  # pushable to anyone
        self.all_users = np.arange(n)
        self.campaigns: list[str] = []
        self._visits: list[tuple[Array, Array, Array]] = []

    def _new_campaign(self, prefix: str, today: _Day) -> int:
        self.campaigns.append(f"{prefix}-{today.stamp}")
        return len(self.campaigns) - 1

    def _category(self) -> int:
        return int(self.rng.choice(len(CATEGORIES), p=self.w.shop.category_weight))

    def _visit(self, users: Array, t: Array, item: int) -> None:
        """Clicks on ``item`` start a session on it at ``t``."""
        self._visits.append((users, t, np.full(len(users), item)))

    def sessions(self) -> tuple[Array, Array, Array]:
        """(user, t, item) of every session a click started, in campaign order."""
        if not self._visits:
            e = np.zeros(0, dtype=np.int64)
            return e, e, e
        u, t, i = (np.concatenate(col).astype(np.int64) for col in zip(*self._visits, strict=True))
        return u, t, i

    # ----------------------------------------------------------------------------------------- push

    def push(self, today: _Day) -> None:
        """One push campaign: a popular in-stock item sold everywhere, to opted-in, installed,
        recently seen users; opens, clicks, dismissals and unsubscribes follow."""
        w, rng = self.w, self.rng
        cat = self._category()
        pool = w.shop.members[cat][self.everywhere[w.shop.members[cat]]]
        if len(pool) == 0:
            pool = w.shop.members[cat]
        top = pool[np.argsort(-w.shop.popularity[pool], kind="stable")][:5]
        item = int(rng.choice(top))
        code = self._new_campaign("push", today)
        camp_hour = int(rng.choice([9, 12, 18, 20]))
        installed = ~(w.life.uninstalled & (today.day + 0.5 > w.life.churn_day))
        eligible = self.opted_in["app_push"] & today.signed & installed & today.recent
        u = self.all_users[eligible & (rng.random(w.cfg.n_users) < 0.8)]
        sec = self._push_seconds(u, camp_hour)
        t = to_utc(w, u, today.day_per_user[u], sec)
        variant = (rng.random(len(u)) < 0.5).astype(np.int8)
        taste = self.favourite[u, cat]
        logit = (
            -4.8
            + 0.9 * w.attitudes.push_affinity[u]
            + 2.4 * hour_match(w, u, sec / 3600.0)
            + 1.6 * today.engagement[u]
            + 0.6 * taste
            + 0.25 * variant
        )
        opened = rng.random(len(u)) < _sigmoid(logit)
        common = {"channel": CHANNEL_CODE["app_push"], "campaign": code}
        self.parts.add("push_delivered", u, t, item=item, variant=variant, **common)
        oi = opened.nonzero()[0]
        t_open = t[oi] + (rng.exponential(15 * 60, len(oi)) + 5).astype(np.int64)
        self.parts.add("push_opened", u[oi], t_open, item=item, variant=variant[oi], **common)
        clicked = rng.random(len(oi)) < 0.5 + 0.25 * taste[oi]
        ki = oi[clicked]
        t_click = t_open[clicked] + rng.integers(2, 20, len(ki))
        self.parts.add("push_clicked", u[ki], t_click, item=item, variant=variant[ki], **common)
        self._visit(u[ki], t_click + 3, item)
        self._push_dismissals(u, t, opened, variant, today, item, common)

    def _push_seconds(self, u: Array, camp_hour: int) -> Array:
        """Local send second: the campaign's hour or an exploring one, moved to the end of quiet hours."""
        rng = self.rng
        hour = np.where(rng.random(len(u)) < 0.5, camp_hour, rng.integers(8, 22, len(u))).astype(np.int64)
        qs, qe = self.quiet_start[u], self.quiet_end[u]
        wraps = qs > qe  # e.g. 22-8
        in_quiet = np.where(wraps, (hour >= qs) | (hour < qe), (hour >= qs) & (hour < qe)) & (qs >= 0)
        hour = np.where(in_quiet, qe, hour)
        return hour * 3600 + rng.integers(0, 600, len(u))

    def _push_dismissals(
        self, u: Array, t: Array, opened: Array, variant: Array, today: _Day, item: int, common: dict[str, int]
    ) -> None:
        """Some ignored pushes are dismissed; repeated dismissals of a fading user end in an unsubscribe."""
        rng = self.rng
        di = (~opened & (rng.random(len(u)) < 0.3)).nonzero()[0]
        t_dis = t[di] + (rng.exponential(30 * 60, len(di)) + 5).astype(np.int64)
        self.parts.add("push_dismissed", u[di], t_dis, item=item, variant=variant[di], **common)
        du = u[di]
        self.dismissed[du] += 1
        unsub = rng.random(len(di)) < 0.002 + 0.006 * self.dismissed[du] * (1.2 - today.engagement[du])
        t_unsub = t_dis[unsub] + rng.integers(2, 30, int(unsub.sum()))
        self.parts.add("unsubscribe", du[unsub], t_unsub, **common)
        self.opted_in["app_push"][du[unsub]] = False

    # ----------------------------------------------------------------------------------------- sms, email

    def sms_or_email(self, today: _Day, ch: _SmsOrEmail) -> None:
        """One SMS or email campaign for the most popular item of a category."""
        w, rng = self.w, self.rng
        code = self._new_campaign(ch.channel, today)
        cat = self._category()
        item = int(w.shop.members[cat][0])
        u = self.all_users[self.opted_in[ch.channel] & today.signed & (rng.random(w.cfg.n_users) < ch.reach)]
        logit = (
            ch.intercept
            + ch.engaged * today.engagement[u]
            + ch.taste * self.favourite[u, cat]
            + ch.affinity * w.attitudes.email_affinity[u]
        )
        a = u[rng.random(len(u)) < _sigmoid(logit)]  # the users who answer
        t = self._answer_times(ch, today, a)
        variant = (rng.random(len(a)) < 0.5).astype(np.int8)
        common = {"channel": CHANNEL_CODE[ch.channel], "campaign": code}
        self.parts.add(ch.answer_event, a, t, item=item, variant=variant, **common)
        if ch.click is None:
            self._visit(a, t + 5, item)
        else:
            clicked = rng.random(len(a)) < ch.click.p + ch.click.p_taste * self.favourite[a, cat]
            t_click = t[clicked] + rng.integers(*ch.click.delay_s, int(clicked.sum()))
            self.parts.add(ch.click.event, a[clicked], t_click, item=item, variant=variant[clicked], **common)
            self._visit(a[clicked], t_click + 5, item)
        if ch.unsubscribe_p > 0:
            un = rng.random(len(u)) < ch.unsubscribe_p * (1.5 - today.engagement[u])
            uu = u[un]
            t_un = to_utc(w, uu, today.day_per_user[uu], local_seconds(w, uu, rng))
            self.parts.add("unsubscribe", uu, t_un, **common)
            self.opted_in[ch.channel][uu] = False

    def _answer_times(self, ch: _SmsOrEmail, today: _Day, a: Array) -> Array:
        """When the answering users answer: soon after the send, or at their next active moment
        (the next day when that moment comes before the send hour)."""
        if ch.read_delay_s is not None:
            sec = np.full(len(a), ch.send_hour * 3600) + self.rng.integers(*ch.read_delay_s, len(a))
            return to_utc(self.w, a, today.day_per_user[a], sec)
        sec = local_seconds(self.w, a, self.rng)
        return to_utc(self.w, a, today.day_per_user[a] + (sec < ch.send_hour * 3600), sec)


def _quiet_bounds(quiet: pd.Series) -> tuple[Array, Array]:
    """(start, end) hour of each user's quiet window, -1 when none."""
    parts = quiet.astype(str).str.extract(r"^(\d{1,2})-(\d{1,2})$")
    qs = pd.to_numeric(parts[0], errors="coerce").fillna(-1).to_numpy(np.int64)
    qe = pd.to_numeric(parts[1], errors="coerce").fillna(-1).to_numpy(np.int64)
    return qs, qe


def _sigmoid(x: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-x))

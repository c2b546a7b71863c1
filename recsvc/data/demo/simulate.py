"""The demo simulation from start to end: world, daily sessions, campaigns, shopping, feedback,
and the three canonical files it writes."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from recsvc.data.demo.config import DEFAULT_END, DemoConfig, DemoFrames, DemoPaths
from recsvc.data.demo.events import EventParts, assemble_events, write_events
from recsvc.data.demo.messaging import run_campaigns
from recsvc.data.demo.people import hidden_labels
from recsvc.data.demo.sessions import activity_matrix, feedback, repurchases, run_sessions
from recsvc.data.demo.tables import CATEGORIES
from recsvc.data.demo.world import DAY, World, build_world, local_seconds, to_utc
from recsvc.data.io import USER_COLUMNS, write_table

logger = logging.getLogger(__name__)

Array = np.ndarray[Any, Any]


def generate_demo_frames(config: DemoConfig | None = None, *, progress: bool = True) -> DemoFrames:
    """Simulate the app in memory; :func:`generate_demo` writes the result."""
    cfg = config or DemoConfig()
    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    bar = tqdm(total=6, desc="demo-data", disable=not progress, unit="step")
    w, items, users, signup_sec = build_world(cfg, rng)
    bar.update()
    parts = EventParts()
    counts, eng = activity_matrix(w, rng)
    bar.update()

    s_user, s_t = _organic_sessions(w, counts, rng)
    sd = np.floor(w.life.signup_day).astype(np.int64)
    signup_t = to_utc(w, np.arange(cfg.n_users), sd, signup_sec)
    new = np.flatnonzero((sd >= 0) & (sd < cfg.days))  # one onboarding session per in-window signup
    s_user = np.concatenate([s_user, new])
    s_t = np.concatenate([s_t, signup_t[new] + 60])
    m_user, m_t, m_item, campaigns = run_campaigns(w, users, parts, eng, _last_active(w, counts), signup_t, rng)
    bar.update()

    s_user = np.concatenate([s_user, m_user])
    s_t = np.concatenate([s_t, m_t])
    s_item = np.concatenate([np.full(len(s_user) - len(m_item), -1, dtype=np.int64), m_item])
    s_buy = np.zeros(len(s_user), dtype=bool)
    purchases = repurchases(w, parts, run_sessions(w, parts, s_user, s_t, s_item, s_buy, rng), rng)
    bar.update()
    feedback(w, parts, purchases, rng)
    bar.update()

    events = assemble_events(w, parts, items, users, w.start + cfg.days * DAY, campaigns)
    users_out = _users_frame(users, signup_t)
    truth = _truth(w, users)
    bar.update()
    bar.close()
    logger.info(
        "demo data: %d users, %d items, %d events over %d days", cfg.n_users, cfg.n_items, len(events), cfg.days
    )
    return DemoFrames(events=events, items=items, users=users_out, truth=truth)


def _organic_sessions(w: World, counts: Array, rng: np.random.Generator) -> tuple[Array, Array]:
    """(user, t) of the sessions in the daily counts, at local times around the users' peaks."""
    uu, dd = np.nonzero(counts)
    reps = counts[uu, dd]
    s_user = np.repeat(uu, reps).astype(np.int64)
    s_day = np.repeat(dd, reps).astype(np.int64)
    return s_user, to_utc(w, s_user, s_day, local_seconds(w, s_user, rng))


def _last_active(w: World, counts: Array) -> Array:
    """Per user and day, the last day up to it with a session (users x days).

    Users who signed up before the window count as active the day before it; in-window signups
    from their signup day; -10**6 means never.
    """
    days = w.cfg.days
    sd = np.floor(w.life.signup_day).astype(np.int64)
    inwin = (sd >= 0) & (sd < days)
    last = np.where(counts > 0, np.arange(days, dtype=np.int32)[None, :], np.int32(-(10**6)))
    base = np.where(w.life.signup_day < 0, -1, np.where(inwin, sd, -(10**6))).astype(np.int32)
    last[inwin, np.clip(sd, 0, days - 1)[inwin]] = sd[inwin]
    return np.maximum.accumulate(np.maximum(last, base[:, None]), axis=1)


def _users_frame(users: pd.DataFrame, signup_t: Array) -> pd.DataFrame:
    """The users table as written, with the signup time."""
    out = users.copy()
    out.insert(1, "signup_ts", np.datetime_as_string(signup_t.astype("datetime64[s]"), timezone="UTC"))
    return out[list(USER_COLUMNS)]


def _truth(w: World, users: pd.DataFrame) -> pd.DataFrame:
    """The hidden per-user traits a model should recover (never written)."""
    activity, segment = hidden_labels(w.kind)
    return pd.DataFrame(
        {
            "user_id": users["user_id"],
            "activity": activity,
            "segment": segment,
            "peak_hour_1": w.rhythm.peak1,
            "peak_hour_2": np.where(w.rhythm.n_peaks == 2, w.rhythm.peak2, -1),
            "preferred_categories": [
                "|".join(CATEGORIES[c].key for c in row[:k])
                for row, k in zip(w.taste.prefs, w.taste.n_prefs, strict=True)
            ],
            "churn_ts": pd.to_datetime(w.start + w.life.churn_day * DAY, unit="s", utc=True),
            "uninstalled": w.life.uninstalled,
            "push_affinity": w.attitudes.push_affinity,
        }
    )


def generate_demo(
    out_dir: Path,
    *,
    n_users: int = 5000,
    n_items: int = 1000,
    days: int = 120,
    end: datetime | None = None,
    seed: int = 42,
    progress: bool = True,
) -> DemoPaths:
    """Write a seeded demo app (``events.csv.gz``, ``items.csv``, ``users.csv``) into ``out_dir``."""
    cfg = DemoConfig(n_users=n_users, n_items=n_items, days=days, end=end or DEFAULT_END, seed=seed)
    return write_demo(generate_demo_frames(cfg, progress=progress), out_dir)


def write_demo(frames: DemoFrames, out_dir: Path) -> DemoPaths:
    """Write simulated frames as the three canonical files (the hidden truth stays in memory)."""
    out = Path(out_dir)
    paths = DemoPaths(events=out / "events.csv.gz", items=out / "items.csv", users=out / "users.csv")
    write_table(frames.items, paths.items)
    write_table(frames.users, paths.users)
    write_events(frames.events, paths.events)
    logger.info("demo data written to %s", out)
    return paths

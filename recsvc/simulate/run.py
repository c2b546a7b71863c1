"""The day loop: a seeded demo app, its history trained on, then ``days`` simulated days per policy.

Each policy starts from the same users in the same state and meets the same random numbers; only
its pushes differ. The recsvc policy asks the service every day (UTC midnight, a 24-hour window) for
each user's push, the users answer, and their organic and push events go back through ingestion
before the next day; the models are retrained every ``retrain_every`` days.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from recsvc.data.convert import load_dataset
from recsvc.data.demo import DemoConfig, generate_demo_frames, write_demo
from recsvc.data.demo.world import build_world
from recsvc.errors import InvalidArgument
from recsvc.recs.embeddings import Encoder, SentenceTransformerEncoder
from recsvc.settings import Settings, load_settings
from recsvc.simulate import policies, summary
from recsvc.simulate.events import day_events
from recsvc.simulate.response import (
    VARIANT_APPEAL,
    Answers,
    DayDraws,
    Population,
    Pushes,
    UserState,
    answer,
    end_day,
    organic,
)
from recsvc.simulate.service import SimService, sim_settings, train_models
from recsvc.training import import_log
from recsvc.vocabulary import RETENTION_EVENT_TYPES

logger = logging.getLogger(__name__)

MIN_HISTORY_DAYS = 45


@dataclass(frozen=True)
class SimConfig:
    users: int = 1000
    days: int = 28
    seed: int = 42
    retrain_every: int = 7  # days; 0: never
    history_days: int = 60
    items: int = 300
    control_share: float = 0.1  # the global control group: users recsvc never pushes
    variants: tuple[str, ...] = tuple(VARIANT_APPEAL)  # recsvc's copy variants (optimize experiment)
    policies: tuple[str, ...] = policies.POLICIES

    def validate(self) -> None:
        if self.users < 1:
            raise InvalidArgument("--users must be >= 1", field="users")
        if not 1 <= self.days <= 60:
            raise InvalidArgument("--days must be in 1..60", field="days")
        if self.history_days < MIN_HISTORY_DAYS:
            # The lifecycle model needs four weeks of history plus part of its horizon before a cut-off.
            raise InvalidArgument(f"--history-days must be >= {MIN_HISTORY_DAYS}", field="history_days")
        if self.retrain_every < 0:
            raise InvalidArgument("--retrain-every must be >= 0", field="retrain_every")
        if not 0.0 <= self.control_share < 1.0:
            raise InvalidArgument("--control-share must be in [0, 1)", field="control_share")
        unknown = [p for p in self.policies if p not in policies.POLICIES]
        if unknown or not self.policies:
            raise InvalidArgument(f"--policies: unknown {unknown}; known: {policies.POLICIES}", field="policies")


@dataclass
class Tally:
    """The funnel of one policy's pushes (counted by the simulator, for every policy alike)."""

    sends: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    converted: int = 0
    unsubscribed: int = 0

    def add(self, a: Answers) -> None:
        self.sends += len(a.delivered)
        self.delivered += int(a.delivered.sum())
        self.opened += int(a.opened.sum())
        self.clicked += int(a.clicked.sum())
        self.converted += int(a.bought.sum())
        self.unsubscribed += int(a.unsubscribed.sum())


@dataclass
class PolicyRun:
    name: str
    state: UserState
    tally: Tally
    variant_sends: dict[str, int]
    extra: dict[str, Any]


def run_simulation(
    cfg: SimConfig,
    *,
    workdir: Path | None = None,
    settings: Settings | None = None,
    encoder: Encoder | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every policy of ``cfg`` and return the JSON summary (:mod:`~recsvc.simulate.summary`)."""
    cfg.validate()
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="recsvc-sim-") as tmp:
            return run_simulation(cfg, workdir=Path(tmp), settings=settings, encoder=encoder, progress=progress)
    workdir.mkdir(parents=True, exist_ok=True)
    encoder = encoder or SentenceTransformerEncoder()
    base = settings or load_settings(env={})
    demo = DemoConfig(n_users=cfg.users, n_items=cfg.items, days=cfg.history_days, seed=cfg.seed)
    frames = generate_demo_frames(demo, progress=False)
    paths = write_demo(frames, workdir / "demo")
    world, _, _, _ = build_world(demo, np.random.default_rng(cfg.seed))  # the same draws as the demo's
    pop = Population.from_world(world, frames.users, frames.items)
    ds = load_dataset(paths.events, items=paths.items, users=paths.users)
    assert ds.items is not None and ds.users is not None
    start = demo.end.astimezone(UTC)
    popular = _most_bought(ds.events, pop)
    draws = [DayDraws.draw(pop, cfg.seed, d) for d in range(cfg.days)]
    bar = tqdm(total=cfg.days * len(cfg.policies), desc="simulate", unit="day", disable=not progress)
    runs: list[PolicyRun] = []
    for name in cfg.policies:
        if name == "recsvc":
            svc_settings = sim_settings(
                base, workdir / "recsvc", control_share=cfg.control_share, variants=cfg.variants, seed=cfg.seed
            )
            import_log(
                svc_settings, events=str(paths.events), items=str(paths.items), users=str(paths.users), progress=False
            )
            runs.append(_run_recsvc(cfg, svc_settings, encoder, pop, ds, start, draws, bar))
            continue
        choose: Callable[[UserState, int], Pushes] = {
            "batch_and_blast": lambda st, d: policies.batch_and_blast(pop, st, popular),
            "random": lambda st, d: policies.random_policy(pop, st, cfg.seed, d),
            "none": lambda st, d: Pushes.empty(),
        }[name]
        runs.append(_run_baseline(name, cfg, pop, draws, choose, bar))
    bar.close()
    pre = pre_period_activity(ds.events, pop, start)
    return summary.build(cfg, pop, runs, popular_item=pop.item_ids[popular], start=start, pre_period=pre)


def _run_baseline(
    name: str,
    cfg: SimConfig,
    pop: Population,
    draws: list[DayDraws],
    choose: Callable[[UserState, int], Pushes],
    bar: Any,
) -> PolicyRun:
    run = PolicyRun(name, UserState.start(pop, cfg.days), Tally(), {}, {})
    for d in range(cfg.days):
        pushes = choose(run.state, d)
        a = answer(pop, run.state, pushes, draws[d])
        run.tally.add(a)
        end_day(pop, run.state, d, pushes, a, organic(pop, run.state, draws[d]))
        bar.update()
    return run


def _run_recsvc(
    cfg: SimConfig,
    settings: Settings,
    encoder: Encoder,
    pop: Population,
    ds: Any,
    start: datetime,
    draws: list[DayDraws],
    bar: Any,
) -> PolicyRun:
    train_models(settings, encoder, ds.events, ds.items, ds.users)
    svc = SimService(settings, encoder, pop)
    run = PolicyRun("recsvc", UserState.start(pop, cfg.days), Tally(), {}, {})
    suppressed: dict[str, int] = {}
    held = np.zeros(pop.n, dtype=bool)
    everyone = np.arange(pop.n)
    retrains = 0
    try:
        for d in range(cfg.days):
            day_start = start + timedelta(days=d)
            dec = svc.decide(day_start, everyone)
            held[dec.held_out] = True
            for why, count in dec.suppressed.items():
                suppressed[why] = suppressed.get(why, 0) + count
            for variant in dec.pushes.variants:
                run.variant_sends[variant] = run.variant_sends.get(variant, 0) + 1
            a = answer(pop, run.state, dec.pushes, draws[d])
            run.tally.add(a)
            active = organic(pop, run.state, draws[d])
            rows = day_events(pop, draws[d], day_start.timestamp(), active, dec.pushes, dec.send_ts, a)
            svc.report(rows)
            end_day(pop, run.state, d, dec.pushes, a, active)
            if cfg.retrain_every and (d + 1) % cfg.retrain_every == 0 and d + 1 < cfg.days:
                svc.retrain(encoder, ds.events, ds.items, ds.users)
                retrains += 1
            bar.update()
        end = start + timedelta(days=cfg.days)
        run.extra = summary.service_view(svc, settings, end) | {
            "held_out_users": held,
            "suppressed": suppressed,
            "retrains": retrains,
            "events_accepted": svc.accepted,
            "events_rejected": svc.rejected,
        }
    finally:
        svc.close()
    return run


def pre_period_activity(events: pd.DataFrame, pop: Population, start: datetime, days: int = 28) -> np.ndarray:
    """Per user, the share of the history's last ``days`` days with any visit: the pre-period
    covariate that CUPED adjusts the control group's comparison with."""
    since = pd.Timestamp(start) - pd.Timedelta(days=days)
    ev = events[(events["ts"] >= since) & events["event_type"].isin(RETENTION_EVENT_TYPES)]
    active_days = ev.assign(day=ev["ts"].dt.floor("D")).groupby("user_id")["day"].nunique()
    return np.asarray(active_days.reindex(pop.user_ids).fillna(0).to_numpy(dtype=float) / days)


def _most_bought(events: pd.DataFrame, pop: Population) -> int:
    """The item bought most often in the history (the most viewed when nothing was bought)."""
    index = {item: i for i, item in enumerate(pop.item_ids)}
    for kind in ("purchase", "view"):
        counts = events.loc[events["event_type"] == kind, "item_id"].value_counts()
        for item in counts.index:
            if item in index:
                return index[item]
    return int(np.argmax(pop.item_popularity))

"""recsvc as the simulator runs it: the real engine behind the real servicer, in process.

Decisions go through ``PushRecommender.Recommend`` (``reserve=true``: the send is booked and recorded
for attribution), events through ``ReportEvents`` (the ingestion path: validation, storage, opt-outs,
attribution, bandit credit), and the models are retrained with the training code of ``recsvc train``
on everything the store's users did, then swapped in like a server's reload. Only the network is
left out: the servicer is called directly with a stand-in call context.

Copy comes from templates (no LLM), so a day of decisions takes seconds, not hours.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.copy.cache_tables import backing_for
from recsvc.copy.writer import Copywriter
from recsvc.data.io import EVENT_COLUMNS, normalize_events
from recsvc.engine.engine import Engine
from recsvc.experiments.assignment import GlobalControl
from recsvc.experiments.definitions import Arm, Experiment
from recsvc.recs.embeddings import Encoder
from recsvc.server.servicer import PushRecommenderServicer
from recsvc.settings import Settings
from recsvc.simulate.response import Population, Pushes
from recsvc.v1 import recsvc_pb2 as pb

logger = logging.getLogger(__name__)

VARIANT_EXPERIMENT = "sim-copy-variant"
REPORT_CHUNK = 5_000


class _Call:
    """The little of a gRPC call context the servicer reads: no deadline, always active."""

    def time_remaining(self) -> float | None:
        return None

    def is_active(self) -> bool:
        return True

    def abort(self, code: Any, details: str) -> NoReturn:
        raise RuntimeError(f"{code}: {details}")

    def set_code(self, code: Any) -> None:
        pass

    def set_details(self, details: str) -> None:
        pass


def sim_settings(
    base: Settings, workdir: Path, *, control_share: float, variants: Sequence[str], seed: int
) -> Settings:
    """The service's settings for a run: its own store and models, the global control group, an
    optimize experiment over the copy variants (empty ``variants``: none), and the bandit seeded
    with the run's ``seed`` so that a run repeats exactly."""
    s = base.with_overrides(
        paths={"store": str(workdir / "recsvc.db"), "models_dir": str(workdir / "models")}, bandit={"seed": seed}
    )
    experiments: tuple[Experiment, ...] = ()
    if variants:
        w = 1.0 / len(variants)
        arms = tuple(Arm(v, w) for v in variants)
        experiments = (Experiment(VARIANT_EXPERIMENT, "copy_variant", arms, "click_rate", mode="optimize"),)
    s = replace(
        s, global_control=GlobalControl(share=control_share, salt="sim-global-control"), experiments=experiments
    )
    s.validate()
    return s


@dataclass
class Decisions:
    """One day's answers of ``Recommend`` for the users asked."""

    pushes: Pushes
    send_ts: np.ndarray  # booked send time (UTC seconds) per push
    suppressed: dict[str, int]
    held_out: np.ndarray  # user indices the global control group held out


def train_models(
    settings: Settings, encoder: Encoder, events: pd.DataFrame, items: pd.DataFrame, users: pd.DataFrame
) -> None:
    """Train a new version of every model on ``events`` (canonical), as ``recsvc train`` does."""
    from recsvc.lifecycle.train import train_lifecycle
    from recsvc.recs.training import train_recs
    from recsvc.timing.sendtime import SendTimeModel

    models = Path(settings.paths.models_dir)
    train_lifecycle(
        events,
        out_dir=models / "lifecycle",
        horizon_days=settings.lifecycle.horizon_days,
        config=settings.lifecycle,
        progress=False,
    )
    train_recs(
        events, items, out_dir=models / "recs", encoder=encoder, config=settings.recs, progress=False, users=users
    )
    cutoff = events["ts"].max() + pd.Timedelta(seconds=1)
    SendTimeModel.fit(events, users, cutoff=cutoff, config=settings.timing, progress=False).save_version(
        models / "sendtime"
    )


class SimService:
    """The engine and its servicer over one store, with the events it was sent kept for retraining."""

    def __init__(self, settings: Settings, encoder: Encoder, pop: Population) -> None:
        self.settings = settings
        self.pop = pop
        self.engine = Engine(settings, encoder=encoder)
        # Templates only: a copywriter without an LLM never waits for one.
        self.engine.copywriter.close()
        self.engine.copywriter = Copywriter(settings.copy, None, cache_db=backing_for(self.engine.store))
        self.engine.load_models()
        self.servicer = PushRecommenderServicer(self.engine)
        self._item_index = {item: i for i, item in enumerate(pop.item_ids)}
        self._call = _Call()
        self.sent_rows: list[dict[str, Any]] = []
        self.accepted = 0
        self.rejected = 0
        self.rejections: list[str] = []

    def close(self) -> None:
        self.engine.close()

    def decide(self, now: datetime, users: np.ndarray) -> Decisions:
        """Ask ``Recommend`` (reserve, app push, scheduled) for every user in ``users`` at ``now``."""
        stamp = Timestamp()
        stamp.FromDatetime(now)
        out_u: list[int] = []
        out_i: list[int] = []
        out_ts: list[float] = []
        variants: list[str] = []
        keys: list[str] = []
        suppressed: dict[str, int] = {}
        held: list[int] = []
        for u in users:
            req = pb.RecommendRequest(
                user_id=self.pop.user_ids[u],
                context=pb.RequestContext(trigger=pb.TRIGGER_SCHEDULED, now=stamp),
                allowed_channels=[pb.CHANNEL_APP_PUSH],
                max_candidates=1,
                write_copy=True,
                reserve=True,
            )
            resp = self.servicer.Recommend(req, self._call)  # type: ignore[arg-type]
            reason = resp.suppression.reason if resp.HasField("suppression") else 0
            if reason or not resp.candidates:
                name = pb.SuppressionReason.Name(reason) if reason else "NO_CANDIDATES"
                key = name.removeprefix("SUPPRESSION_REASON_").lower()
                suppressed[key] = suppressed.get(key, 0) + 1
                if reason == pb.SUPPRESSION_REASON_HELD_OUT:
                    held.append(int(u))
                continue
            c = resp.candidates[0]
            item = self._item_index.get(c.item.item_id)
            if item is None:
                suppressed["unknown_item"] = suppressed.get("unknown_item", 0) + 1
                continue
            out_u.append(int(u))
            out_i.append(item)
            out_ts.append(c.send_time.send_at.ToDatetime(tzinfo=UTC).timestamp())
            variants.append(c.message.variant)
            keys.append(c.dedupe_key)
        uu = np.array(out_u, dtype=np.int64)
        ts = np.array(out_ts, dtype=np.float64)
        local = ((ts + self.pop.offset_s[uu]) % 86400) / 3600.0 if len(uu) else np.zeros(0)
        pushes = Pushes(uu, np.array(out_i, dtype=np.int64), local, variants, keys)
        return Decisions(pushes, ts, suppressed, np.array(held, dtype=np.int64))

    def report(self, rows: Sequence[dict[str, Any]]) -> None:
        """Send ``rows`` (canonical events with UTC seconds in ``ts``) through ``ReportEvents``."""
        for start in range(0, len(rows), REPORT_CHUNK):
            chunk = rows[start : start + REPORT_CHUNK]
            req = pb.ReportEventsRequest(events=[_event_pb(r) for r in chunk])
            resp = self.servicer.ReportEvents(req, self._call)  # type: ignore[arg-type]
            self.accepted += resp.accepted
            self.rejected += resp.rejected
            self.rejections.extend(f"{r.field}: {r.reason}" for r in resp.rejections[:5])
        self.sent_rows.extend(rows)

    def retrain(self, encoder: Encoder, history: pd.DataFrame, items: pd.DataFrame, users: pd.DataFrame) -> None:
        """New versions of every model on the history and all events reported so far, swapped in."""
        sim = pd.DataFrame(self.sent_rows)
        sim["ts"] = pd.to_datetime(sim["ts"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        sim = sim.reindex(columns=[c for c in EVENT_COLUMNS if c in history.columns])
        events = pd.concat([history, normalize_events(sim, "<simulated events>")], ignore_index=True)
        train_models(self.settings, encoder, events, items, users)
        self.engine.reload_if_newer()


_TYPES = {name.removeprefix("EVENT_TYPE_").lower(): value for name, value in pb.EventType.items()}


def _event_pb(r: dict[str, Any]) -> pb.Event:
    ts = Timestamp()
    ts.FromDatetime(datetime.fromtimestamp(float(r["ts"]), UTC))
    return pb.Event(
        user_id=r["user_id"],
        ts=ts,
        event_type=_TYPES[r["event_type"]],  # type: ignore[arg-type]
        item_id=r.get("item_id") or "",
        quantity=int(r.get("quantity") or 0),
        value=float(r.get("value") or 0.0),
        channel=pb.CHANNEL_APP_PUSH if r.get("channel") == "app_push" else pb.CHANNEL_UNSPECIFIED,
        variant=r.get("variant") or "",
        dedupe_key=r.get("dedupe_key") or "",
    )

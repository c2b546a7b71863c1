"""Which experiment arm a request runs under, and what that arm changes.

The global control group is checked first: its users are never pushed. Otherwise a user takes part
in at most one experiment per request, so that every send belongs to one experiment and its arm's
outcomes are not mixed with another's: of the experiments running now whose segment holds the user,
one is picked by a hash of the user id under its own salt (uniform over them, sticky while the set of
running experiments stays the same), and within it the arm by the experiment's own sticky hash. Both
hashes are independent, so each experiment's arms are a fair random split of the users routed to it.

An experiment in mode "optimize" leaves the arm open until the channel is known; then a Thompson
bandit per experiment x stage x trigger x channel x locale picks it, learning from the clicks that
come back (:meth:`ExperimentStep.learn`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np

from recsvc.batch.segment import Segment
from recsvc.engine.pipeline import Audience
from recsvc.engine.types import LifecycleView, SuppressionView
from recsvc.experiments.arms import fixed_hour
from recsvc.experiments.assignment import GlobalControl, arm_index, assign, unit_hash
from recsvc.experiments.bandit import BanditState, ThompsonBandit
from recsvc.experiments.config import BanditConfig
from recsvc.experiments.definitions import Experiment
from recsvc.outcomes import GLOBAL_EXPERIMENT, Exposure
from recsvc.vocabulary import CHANNELS, GLOBAL_CONTROL_ARMS, HOLDOUT_ARM, effective_locale

# Salt of the hash that routes a user eligible for several experiments to one of them.
ROUTING_SALT = "experiment-routing"


@dataclass(frozen=True)
class Treatment:
    """The user's experiment and arm for one request ('' arm: an optimize bandit has not chosen yet)."""

    experiment: Experiment | None = None
    arm: str = ""
    global_control: bool = False  # the global control group is measured only when it is configured
    control_on: bool = False

    @property
    def experiment_id(self) -> str:
        return self.experiment.id if self.experiment is not None else ""

    @property
    def held_out(self) -> bool:
        """No push for this user: the global control group, or a holdout experiment's holdout arm."""
        return self.global_control or (self._arm_for("holdout") == HOLDOUT_ARM)

    def _arm_for(self, decision: str) -> str:
        exp = self.experiment
        return self.arm if exp is not None and exp.decision == decision else ""

    @property
    def recs_policy(self) -> str:
        return self._arm_for("recs_source") or "model"

    @property
    def channel(self) -> str | None:
        """The only channel this arm may use; None: the channel model chooses."""
        arm = self._arm_for("channel_policy")
        return arm if arm in CHANNELS else None

    @property
    def send_hour(self) -> int | None:
        """The local hour this arm sends at (when the window and quiet hours allow); None: the model's."""
        return fixed_hour(self._arm_for("send_time_policy"))

    @property
    def writer(self) -> str:
        """``template`` when this arm must not use the LLM; '' otherwise."""
        return self._arm_for("copy_writer")

    @property
    def variant(self) -> str:
        return self._arm_for("copy_variant")

    def exposures(self, user_id: str, now: datetime) -> list[Exposure]:
        """What to record when this treatment is decided for a send."""
        out: list[Exposure] = []
        if self.control_on:
            arm = GLOBAL_CONTROL_ARMS[1] if self.global_control else GLOBAL_CONTROL_ARMS[0]
            out.append(Exposure(user_id, GLOBAL_EXPERIMENT, arm, self.global_control, now))
        if self.experiment is not None and self.arm:
            out.append(Exposure(user_id, self.experiment.id, self.arm, self.held_out, now))
        return out


def segment_row(lifecycle: LifecycleView, tier: str, audience: Audience) -> dict[str, Any]:
    """What an experiment's segment reads of the user (the fields of ``recsvc.batch.segment``)."""
    return {
        "stage": lifecycle.current_stage,
        "predicted_stage": lifecycle.predicted_stage,
        "tier": tier,
        "city": audience.city,
        "locale": audience.locale,
        "churn_risk": lifecycle.churn_risk,
    }


def held_out_view(t: Treatment) -> SuppressionView:
    if t.global_control:
        return SuppressionView("held_out", "the user is in the global control group, which is never pushed")
    return SuppressionView("held_out", f"the user is in the {HOLDOUT_ARM} arm of experiment {t.experiment_id}")


def bandit_context(experiment_id: str, stage: str, trigger: str, channel: str, locale: str) -> str:
    """The bandit of one experiment for one kind of send (the locale as the copy is written in)."""
    return f"{experiment_id}|{stage}|{trigger}|{channel}|{effective_locale(locale)}"


class ExperimentStep:
    """Assigns treatments from the current settings' experiments and global control group."""

    def __init__(
        self,
        experiments: Callable[[], tuple[Sequence[Experiment], GlobalControl]],
        state: BanditState,
        config: BanditConfig,
        seed: int | None = None,
    ) -> None:
        self._experiments = experiments
        self.bandit = ThompsonBandit(state, config)
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()
        self._segments: dict[str, Segment] = {}

    def _segment(self, expr: str) -> Segment:
        seg = self._segments.get(expr)
        if seg is None:
            seg = self._segments[expr] = Segment.parse(expr)
        return seg

    def treatment(self, user_id: str, row: Mapping[str, Any], now: datetime) -> Treatment:
        """``row``: what segments read of the user (stage, tier, city, locale, churn_risk)."""
        experiments, control = self._experiments()
        control_on = control.share > 0
        if control.holds(user_id):
            return Treatment(global_control=True, control_on=control_on)
        running = [e for e in experiments if e.running_at(now) and self._segment(e.segment).holds(dict(row))]
        if not running:
            return Treatment(control_on=control_on)
        exp = running[arm_index(unit_hash(ROUTING_SALT, user_id), [1.0 / len(running)] * len(running))]
        arm = "" if exp.mode == "optimize" else str(assign(exp, user_id).arm)
        return Treatment(exp, arm, control_on=control_on)

    def resolve(self, t: Treatment, *, stage: str, trigger: str, channel: str, locale: str) -> Treatment:
        """The arm of an optimize experiment, chosen by its bandit now that the channel is known."""
        exp = t.experiment
        if exp is None or t.arm or exp.mode != "optimize":
            return t
        context = bandit_context(exp.id, stage, trigger, channel, locale)
        with self._rng_lock:
            arm = self.bandit.choose(context, exp.arm_names(), self._rng)
        return replace(t, arm=arm)

    def booked(self, t: Treatment, *, stage: str, trigger: str, channel: str, locale: str) -> None:
        """Count a booked send of an optimize experiment as a trial (a failure until its click comes)."""
        exp = t.experiment
        if exp is not None and exp.mode == "optimize" and t.arm:
            context = bandit_context(exp.id, stage, trigger, channel, locale)
            self.bandit.update(context, t.arm, 0, 1, exp.arm_names())

    def learn(self, sends: Iterable[Mapping[str, Any]]) -> int:
        """Credit clicks to the bandits: ``sends`` are the stored rows of sends that a click was just
        attributed to (first click only). Returns how many were credited."""
        experiments, _ = self._experiments()
        by_id = {e.id: e for e in experiments if e.mode == "optimize"}
        n = 0
        for s in sends:
            exp = by_id.get(str(s.get("experiment") or ""))
            arm = str(s.get("arm") or "")
            if exp is None or arm not in exp.arm_names():
                continue
            context = bandit_context(exp.id, s["stage"], s["send_trigger"], s["channel"], s["locale"])
            self.bandit.credit(context, arm, exp.arm_names())
            n += 1
        return n

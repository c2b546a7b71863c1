"""Thompson sampling over variants (copy variants, send hours), one Beta-Bernoulli bandit per context.

A context is any string key, typically ``stage|trigger|channel|locale``. Each variant's click (or
open) rate has a Beta(alpha, beta) posterior, starting from a configurable prior; a choice draws one
rate per variant and takes the highest. With probability ``floor`` the choice is uniform instead, so
every variant keeps at least floor/K of the traffic and a variant that starts unlucky can recover.

Counts are kept per (context, variant set): the set's key is a hash of its sorted names, so changing
the variants starts a fresh bandit from the prior (a reset) without deleting the old counts.
Where the counts live is a :class:`BanditState`: in memory (plain JSON-able dicts) or the shared
store (``bandit_store``), whose increments are atomic so several server processes can learn at once.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.experiments.config import BanditConfig

__all__ = ["BanditConfig", "BanditState", "MemoryBanditState", "ThompsonBandit", "variant_set_key"]


# The set key under which counts are kept when a change of variants must not reset them.
ANY_VARIANT_SET = "*"
_MIN_PARAM = 1e-3


def variant_set_key(variants: Sequence[str]) -> str:
    """Stable key of a set of variants: order does not matter, any change of membership does."""
    return hashlib.sha256("\x1f".join(sorted(set(variants))).encode("utf-8")).hexdigest()[:16]


class BanditState(Protocol):
    """Posterior parameters per (context, variant set, variant); a variant never updated is absent."""

    def params(self, context: str, variant_set: str) -> dict[str, tuple[float, float]]: ...

    def increment(
        self,
        context: str,
        variant_set: str,
        variant: str,
        successes: float,
        failures: float,
        prior: tuple[float, float],
    ) -> None:
        """Add to alpha and beta atomically; a new row starts at ``prior``."""
        ...


class MemoryBanditState:
    """Counts in one process: ``{context: {variant_set: {variant: [alpha, beta, updated_at]}}}``."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = data if data is not None else {}

    def params(self, context: str, variant_set: str) -> dict[str, tuple[float, float]]:
        arms = self.data.get(context, {}).get(variant_set, {})
        return {v: (float(a), float(b)) for v, (a, b, *_) in arms.items()}

    def increment(
        self,
        context: str,
        variant_set: str,
        variant: str,
        successes: float,
        failures: float,
        prior: tuple[float, float],
    ) -> None:
        arms = self.data.setdefault(context, {}).setdefault(variant_set, {})
        a, b, *_ = arms.get(variant, (prior[0], prior[1], 0.0))
        arms[variant] = [a + successes, b + failures, time.time()]

    def to_json(self) -> dict[str, Any]:
        return self.data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MemoryBanditState:
        return cls(data)


def _check_variants(variants: Sequence[str]) -> None:
    if not variants:
        raise InvalidArgument("bandit: no variants to choose from", field="variants")
    if len(set(variants)) != len(variants):
        raise InvalidArgument(f"bandit: variants repeat: {list(variants)}", field="variants")


class ThompsonBandit:
    """Chooses variants per context and learns from their outcomes, over a :class:`BanditState`."""

    def __init__(self, state: BanditState | None = None, config: BanditConfig | None = None) -> None:
        self.state: BanditState = state if state is not None else MemoryBanditState()
        self.config = config or BanditConfig()
        self.config.validate()
        # The variant set each context last chose from here, for updates that do not name it.
        self._current: dict[str, tuple[str, ...]] = {}

    def _set_key(self, variants: Sequence[str]) -> str:
        return variant_set_key(variants) if self.config.reset_on_variant_change else ANY_VARIANT_SET

    @property
    def prior(self) -> tuple[float, float]:
        return (self.config.prior_alpha, self.config.prior_beta)

    def posterior(self, context: str, variants: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """alpha and beta per variant, in the order given; variants never updated are at the prior."""
        _check_variants(variants)
        self._current[context] = tuple(variants)
        stored = self.state.params(context, self._set_key(variants))
        a = np.array([stored.get(v, self.prior)[0] for v in variants], dtype=float)
        b = np.array([stored.get(v, self.prior)[1] for v in variants], dtype=float)
        # A credited success whose trial was counted under an earlier variant set can leave beta at 0.
        return np.maximum(a, _MIN_PARAM), np.maximum(b, _MIN_PARAM)

    def choose(self, context: str, variants: Sequence[str], rng: np.random.Generator) -> str:
        return variants[int(self.choose_many(context, variants, rng, 1)[0])]

    def choose_many(self, context: str, variants: Sequence[str], rng: np.random.Generator, n: int) -> np.ndarray:
        """Indices into ``variants`` for ``n`` choices from the current posterior (one draw each)."""
        a, b = self.posterior(context, variants)
        k = len(variants)
        draws = rng.beta(a[None, :], b[None, :], size=(n, k))
        picks = np.argmax(draws, axis=1)
        uniform = rng.random(n) < self.config.floor
        picks[uniform] = rng.integers(0, k, size=int(uniform.sum()))
        return picks

    def allocation(
        self, context: str, variants: Sequence[str], rng: np.random.Generator, draws: int = 10_000
    ) -> dict[str, float]:
        """The expected share of traffic per variant now (Monte Carlo), for reports."""
        picks = self.choose_many(context, variants, rng, draws)
        counts = np.bincount(picks, minlength=len(variants))
        return {v: float(c) / draws for v, c in zip(variants, counts, strict=True)}

    def update(
        self,
        context: str,
        variant: str,
        successes: float,
        trials: float,
        variants: Sequence[str] | None = None,
    ) -> None:
        """Record ``successes`` (clicks) out of ``trials`` (sends) of ``variant``.

        ``variants`` is the set the choice was made from; without it, the set this bandit last chose
        from for ``context`` (an outcome must be credited to the bandit that made the choice).
        """
        if variants is None:
            if context not in self._current:
                raise FailedPrecondition(
                    f"bandit: no choice made yet for context {context!r}; pass the variants", field="variants"
                )
            variants = self._current[context]
        _check_variants(variants)
        if variant not in variants:
            raise InvalidArgument(f"bandit: {variant!r} is not one of {list(variants)}", field="variant")
        if not (math.isfinite(trials) and 0 <= successes <= trials):
            raise InvalidArgument(f"bandit: need 0 <= successes <= trials, got {successes}/{trials}", field="successes")
        self.state.increment(
            context, self._set_key(variants), variant, float(successes), float(trials - successes), self.prior
        )

    def credit(self, context: str, variant: str, variants: Sequence[str]) -> None:
        """Turn one trial already counted as a failure into a success: a send is counted when it is
        booked (``update(..., 0, 1)``) and credited when its click comes back."""
        _check_variants(variants)
        if variant not in variants:
            raise InvalidArgument(f"bandit: {variant!r} is not one of {list(variants)}", field="variant")
        self.state.increment(context, self._set_key(variants), variant, 1.0, -1.0, self.prior)

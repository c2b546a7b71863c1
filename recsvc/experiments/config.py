"""Tunables of the bandits, in one frozen dataclass read from the TOML table ``[bandit]``.

``RECSVC_BANDIT_FLOOR=0.2`` overrides ``bandit.floor``; ``validate()`` names the first bad field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from recsvc.errors import InvalidArgument


@dataclass(frozen=True)
class BanditConfig:
    """The Beta prior of every arm, the exploration floor, whether a new variant set starts afresh, and
    the sampler's seed."""

    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    floor: float = 0.1  # share of choices made uniformly at random: each of K variants gets >= floor/K
    # True: any change of the variants starts from the prior (the old counts are kept, under the old set).
    # False: variants that stay keep their counts, and only new ones start from the prior.
    reset_on_variant_change: bool = True
    # The sampler's random generator: None (production) seeds it from the OS; a number makes a run
    # repeatable, as a simulation or a test needs.
    seed: int | None = None

    def validate(self, field: str = "bandit") -> None:
        for name in ("prior_alpha", "prior_beta"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidArgument(f"{field}.{name} must be > 0, got {value}", field=f"{field}.{name}")
        if not 0.0 <= self.floor <= 1.0:
            raise InvalidArgument(f"{field}.floor must be in [0, 1], got {self.floor}", field=f"{field}.floor")

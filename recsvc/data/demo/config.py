"""What a demo run is asked for (:class:`DemoConfig`) and what it hands back (:class:`DemoFrames`,
:class:`DemoPaths`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from recsvc.data.demo.tables import CATEGORIES
from recsvc.errors import InvalidArgument

DEFAULT_END = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DemoConfig:
    """Size, window and seed of the simulated app; the message cadence is tunable too."""

    n_users: int = 5000
    n_items: int = 1000
    days: int = 120
    end: datetime = DEFAULT_END
    seed: int = 42
    push_per_week: float = 3.5
    sms_per_week: float = 1.0
    email_per_week: float = 2.0

    def validate(self) -> None:
        """Reject sizes the simulator cannot honour, naming the field."""
        if self.n_users < 1:
            raise InvalidArgument("demo n_users must be >= 1", field="n_users")
        if self.n_items < len(CATEGORIES):
            raise InvalidArgument(f"demo n_items must be >= {len(CATEGORIES)} (one per category)", field="n_items")
        if not 1 <= self.days <= 3660:
            raise InvalidArgument("demo days must be in 1..3660", field="days")
        if self.end.tzinfo is None:
            raise InvalidArgument("demo end must be timezone-aware (e.g. 2026-11-01T00:00Z)", field="end")
        if self.seed < 0:
            raise InvalidArgument("demo seed must be >= 0", field="seed")
        for name in ("push_per_week", "sms_per_week", "email_per_week"):
            v = getattr(self, name)
            if not 0 <= v <= 7:
                raise InvalidArgument(f"demo {name} must be in 0..7 (at most one campaign a day)", field=name)


@dataclass(frozen=True)
class DemoPaths:
    """Where :func:`generate_demo` wrote the three canonical files."""

    events: Path
    items: Path
    users: Path


@dataclass(frozen=True)
class DemoFrames:
    """The simulated tables as written, plus the hidden per-user truth (for tests and diagnostics).

    ``events`` holds ISO-8601 strings in ``ts``; pass it through ``normalize_events`` for the
    canonical dtypes. ``truth`` is never written: it is what a model should recover.
    """

    events: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    truth: pd.DataFrame

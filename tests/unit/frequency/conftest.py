"""Caps ledgers on each store backend (SQLite file, PostgreSQL database): ``ledgers()`` opens one more
handle on the same store, as another server process or host would."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from recsvc.frequency import open_ledger
from recsvc.frequency.caps import CapLedger
from recsvc.frequency.config import FrequencyConfig
from recsvc.store import EventStore, open_store

LedgerFactory = Callable[..., CapLedger]


@pytest.fixture
def ledgers(store_location: str) -> Iterator[LedgerFactory]:
    opened: list[tuple[CapLedger, EventStore]] = []

    def make(config: FrequencyConfig | None = None) -> CapLedger:
        store = open_store(store_location)
        ledger = open_ledger(store, config)
        opened.append((ledger, store))
        return ledger

    yield make
    for ledger, store in opened:
        ledger.close()
        store.close()

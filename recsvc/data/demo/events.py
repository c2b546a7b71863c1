"""The demo's events: a column-wise accumulator the samplers add batches to, and the final
``events.csv.gz`` table (windowed, time-sorted, with ids) and its byte-stable writer."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from recsvc.data.demo.tables import DEMO_CITIES
from recsvc.data.demo.world import DAY, World
from recsvc.vocabulary import CHANNELS, EVENT_TYPES

Array = np.ndarray[Any, Any]

_ET = {name: i for i, name in enumerate(EVENT_TYPES)}
CHANNEL_CODE = {name: i for i, name in enumerate(CHANNELS)}
_VARIANTS: tuple[str, str] = ("A", "B")


class EventParts:
    """Column-wise accumulator of event batches; defaults fill what a batch does not set.

    Users, items, channels, campaigns, variants, cities and payloads are integer codes until
    :func:`assemble_events` turns them into categories.
    """

    _DEFAULTS: Mapping[str, tuple[type, float]] = MappingProxyType(
        {
            "item": (np.int32, -1),
            "qty": (np.float64, np.nan),
            "value": (np.float64, np.nan),
            "channel": (np.int8, -1),
            "campaign": (np.int32, -1),
            "variant": (np.int8, -1),
            "lat": (np.float64, np.nan),
            "lon": (np.float64, np.nan),
            "city": (np.int16, -1),
            "payload": (np.int32, -1),
        }
    )

    def __init__(self) -> None:
        self.cols: dict[str, list[Array]] = {k: [] for k in ("user", "t", "etype", *self._DEFAULTS)}

    def add(self, etype: str, user: Array, t: Array, **cols: Array | int | float) -> None:
        """Add one event of type ``etype`` per user at epoch second ``t``; scalars broadcast."""
        n = len(user)
        if n == 0:
            return
        self.cols["user"].append(np.asarray(user, dtype=np.int32))
        self.cols["t"].append(np.asarray(t, dtype=np.int64))
        self.cols["etype"].append(np.full(n, _ET[etype], dtype=np.int8))
        for key, (dtype, default) in self._DEFAULTS.items():
            val = cols.get(key, default)
            arr: Array = np.asarray(val, dtype=dtype)
            self.cols[key].append(np.broadcast_to(arr, (n,)).copy() if arr.ndim == 0 else arr)

    def concat(self) -> dict[str, Array]:
        return {k: np.concatenate(v) if v else np.zeros(0) for k, v in self.cols.items()}


def assemble_events(
    w: World, parts: EventParts, items: pd.DataFrame, users: pd.DataFrame, end: int, campaigns: list[str]
) -> pd.DataFrame:
    """Concatenate the batches, keep the window, sort by time and give every event an id."""
    c = parts.concat()
    keep = (c["t"] >= w.start) & (c["t"] < end)
    order = np.flatnonzero(keep)[np.argsort(c["t"][keep], kind="stable")]
    c = {k: v[order] for k, v in c.items()}
    n = len(order)
    city = np.where(c["city"] >= 0, c["city"], w.home.city[c["user"]]).astype(np.int64)
    qty = pd.array(np.where(np.isnan(c["qty"]), 0, c["qty"]).astype(np.int64), dtype="Int64")
    qty[np.isnan(c["qty"])] = pd.NA
    width = max(8, len(str(n)))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), width, "0")
    ids = pc.binary_join_element_wise("e", digits, "")
    return pd.DataFrame(
        {
            "user_id": pd.Categorical.from_codes(c["user"], categories=users["user_id"].tolist()),
            "ts": pd.arrays.ArrowExtensionArray(_iso_utc(c["t"])),
            "event_type": _codes(c["etype"], EVENT_TYPES),
            "event_id": pd.arrays.ArrowExtensionArray(ids),
            "item_id": _codes(c["item"], items["item_id"].tolist()),
            "quantity": qty,
            "value": c["value"],
            "channel": _codes(c["channel"], CHANNELS),
            "campaign_id": _codes(c["campaign"], campaigns),
            "variant": _codes(c["variant"], _VARIANTS),
            "lat": c["lat"],
            "lon": c["lon"],
            "city": pd.Categorical.from_codes(city, categories=list(DEMO_CITIES)),
            "payload": _codes(c["payload"], w.payloads),
        }
    )


def _codes(codes: Array, categories: tuple[str, ...] | list[str]) -> pd.Categorical:
    """A categorical column from integer codes (-1 = missing)."""
    return pd.Categorical.from_codes(codes.astype(np.int64), categories=list(categories))


def _iso_utc(t: Array) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SSZ`` for epoch seconds, by joining a per-day and a per-second table.

    numpy's and Arrow's own formatters take tens of seconds on the 20M stamps of a 100k-user run.
    """
    if len(t) == 0:
        return pa.array([], type=pa.string())
    day = t // DAY
    d0 = int(day.min())
    di = day - d0
    sod = t - day * DAY
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    days = [(epoch + timedelta(days=d0 + k)).strftime("%Y-%m-%dT") for k in range(int(di.max()) + 1)]
    clock = [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]
    return pc.binary_join_element_wise(pa.array(days).take(pa.array(di)), pa.array(clock).take(pa.array(sod)), "")


def write_events(events: pd.DataFrame, path: Path) -> None:
    """Write the events as gzip CSV with Arrow's writer and a zeroed gzip mtime.

    ``write_table`` would go through pandas at gzip level 9 with the current time in the header:
    several times slower on millions of rows, and not byte-identical for a seed. The text is the
    same canonical CSV (ISO-8601 ``Z`` timestamps, empty cells for missing values).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(events, preserve_index=False)
    schema = pa.schema(
        [pa.field(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type) for f in table.schema]
    )
    with gzip.GzipFile(path, "wb", compresslevel=6, mtime=0) as out:
        pacsv.write_csv(table.cast(schema), out)

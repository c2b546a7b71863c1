"""An event log encoded once for lifecycle features: integer users, sorted by (user, time).

Why: training computes features at a dozen cut-offs and serving scores every user; re-reading an
object-string frame each time (factorize, sort, categorical) costs more than the features
themselves on million-user logs. Encoding once gives compact numpy columns (about 25 bytes an event)
and per-user row ranges, so a cut-off over a sample of users touches only their rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsvc.errors import InvalidArgument
from recsvc.vocabulary import EVENT_TYPES

logger = logging.getLogger(__name__)

_UNIT_PER_S = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def seconds(ts: pd.Series) -> np.ndarray:
    """Epoch seconds as float64 whatever the datetime unit (pandas 2 ns / pandas 3 us)."""
    if not isinstance(ts.dtype, pd.DatetimeTZDtype) and not pd.api.types.is_datetime64_dtype(ts.dtype):
        raise InvalidArgument("events 'ts' must be a datetime column (use recsvc.data.io.normalize_events)", field="ts")
    arr = ts.array
    unit = getattr(ts.dtype, "unit", "ns")
    return np.asarray(arr.asi8, dtype=np.float64) / _UNIT_PER_S[unit]  # type: ignore[union-attr]


def _codes(col: pd.Series, categories: list[str] | None = None, sort: bool = False) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1 = missing) and their labels, cheap for categorical columns."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cat = col.array
        codes = np.asarray(cat.codes)  # type: ignore[union-attr]
        labels = pd.Index(np.asarray(cat.categories, dtype=object), dtype=object)  # type: ignore[union-attr]
        if categories is not None:
            remap = np.r_[pd.Index(categories).get_indexer(labels), -1]
            codes = remap[codes]
            return codes, pd.Index(categories, dtype=object)
        if sort:
            present = np.zeros(len(labels), dtype=bool)
            present[codes[codes >= 0]] = True
            used = np.flatnonzero(present)
            order = used[np.argsort(labels[used].to_numpy(dtype=object), kind="stable")]
            remap = np.full(len(labels) + 1, -1, dtype=np.int64)  # the last slot maps code -1 to -1
            remap[order] = np.arange(len(order))
            codes = remap[codes]
            labels = labels[order]
        return codes, labels
    values = col.to_numpy()
    if categories is not None:
        return pd.Categorical(values, categories=categories).codes, pd.Index(categories, dtype=object)
    codes, uniq = pd.factorize(values, sort=sort)
    return codes, pd.Index(np.asarray(uniq, dtype=object), dtype=object)


def _user_time_order(user: np.ndarray, ts: np.ndarray) -> np.ndarray | None:
    """Row order by (user, time), stable among equal times; None when already so (rows with user -1 go).

    One sort of ``user << 32 | rank`` (distinct keys, so numpy's fast unstable sort is exact) beats a
    stable argsort of the users by several times on 100M rows; logs usually arrive sorted by time.
    """
    n = len(user)
    if n >= 2**32:
        raise InvalidArgument("an event log holds at most 2**32 rows", field="events")
    keep = user >= 0
    all_kept = bool(keep.all())
    if n < 2 or (
        all_kept and bool(np.all(user[1:] >= user[:-1])) and bool(np.all((user[1:] != user[:-1]) | (ts[1:] >= ts[:-1])))
    ):
        return None if all_kept else np.flatnonzero(keep)
    rows = np.arange(n, dtype=np.int64) if all_kept else np.flatnonzero(keep)
    if not bool(np.all(ts[1:] >= ts[:-1])):
        rows = rows[np.argsort(ts[rows], kind="stable")]
    key = user[rows].astype(np.int64) << 32
    key |= np.arange(len(rows), dtype=np.int64)
    key.sort()
    key &= 0xFFFFFFFF
    return rows[key]


@dataclass(frozen=True)
class EventLog:
    """Events sorted by (user code, time); ``start[u]:start[u + 1]`` are user ``u``'s rows.

    ``users`` are the ids by code (sorted, as ``pd.factorize(sort=True)`` gives them); ``etype``
    indexes :data:`EVENT_TYPES` (-1 unknown); ``item`` is -1 where missing; ``value`` and
    ``offset_min`` are None when the log has no such column (or it is all zero), to save memory.
    """

    users: pd.Index
    user: np.ndarray  # int32 per event
    ts: np.ndarray  # float64 epoch seconds
    etype: np.ndarray  # int8
    item: np.ndarray  # int32
    value: np.ndarray | None  # float64, 0 where missing
    offset_min: np.ndarray | None  # float32 minutes east of UTC, for hour-of-day
    start: np.ndarray  # int64, len(users) + 1

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def nbytes(self) -> int:
        arrays = (self.user, self.ts, self.etype, self.item, self.value, self.offset_min, self.start)
        return sum(a.nbytes for a in arrays if a is not None)

    @classmethod
    def from_frame(cls, events: pd.DataFrame) -> EventLog:
        """Encode a canonical events frame (``user_id``, ``ts``, ``event_type``; optional ``value``,
        ``item_id``, ``ts_offset_min``); one stable sort keeps the frame's order among equal times."""
        for col in ("user_id", "ts", "event_type"):
            if col not in events.columns:
                raise InvalidArgument(f"events frame has no {col!r} column", field=col)
        s = seconds(events["ts"])
        ucode, users = _codes(events["user_id"], sort=True)
        typ, _ = _codes(events["event_type"], categories=list(EVENT_TYPES))
        item = _codes(events["item_id"])[0] if "item_id" in events.columns else None
        value = None
        if "value" in events.columns:
            value = np.nan_to_num(pd.to_numeric(events["value"], errors="coerce").to_numpy(dtype=np.float64), nan=0.0)
        off = None
        if "ts_offset_min" in events.columns:
            off = pd.to_numeric(events["ts_offset_min"], errors="coerce").fillna(0).to_numpy(np.float32)
        return cls.from_arrays(users, ucode, s, typ, item=item, value=value, offset_min=off)

    @classmethod
    def from_columns(
        cls,
        user_id: Sequence[str],
        ts_s: Sequence[float],
        event_type: Sequence[str],
        *,
        item_id: Sequence[str | None] | None = None,
        value: Sequence[float | None] | None = None,
        offset_min: Sequence[int | None] | None = None,
    ) -> EventLog:
        """Encode plain columns (e.g. rows read from the store; ``None`` = missing) exactly as
        :meth:`from_frame` encodes the same events as a canonical frame, without building the frame:
        for a few thousand users, the frame cost more than the features."""
        users_arr = np.asarray(user_id, dtype=object)
        ucode, uniq = pd.factorize(users_arr, sort=True)
        users = pd.Index(np.asarray(uniq, dtype=object), dtype=object)
        index = {name: i for i, name in enumerate(EVENT_TYPES)}
        typ = np.fromiter((index.get(t, -1) for t in event_type), dtype=np.int64, count=len(users_arr))
        item = None
        if item_id is not None:
            item = pd.factorize(np.asarray(item_id, dtype=object), use_na_sentinel=True)[0]
        val = None
        if value is not None:
            val = np.nan_to_num(np.asarray(value, dtype=np.float64), nan=0.0)  # None becomes NaN, then 0
        off = None
        if offset_min is not None:
            off = np.nan_to_num(np.asarray(offset_min, dtype=np.float64), nan=0.0).astype(np.float32)
        ts = np.asarray(ts_s, dtype=np.float64)
        return cls.from_arrays(users, ucode, ts, typ, item=item, value=val, offset_min=off)

    @classmethod
    def from_arrays(
        cls,
        users: pd.Index,
        user: np.ndarray,
        ts: np.ndarray,
        etype: np.ndarray,
        *,
        item: np.ndarray | None = None,
        value: np.ndarray | None = None,
        offset_min: np.ndarray | None = None,
    ) -> EventLog:
        """Build from per-event arrays in any order (rows with user code -1 are dropped)."""
        user = np.asarray(user)
        ts = np.asarray(ts, dtype=np.float64)
        order = _user_time_order(user, ts)

        def take(a: np.ndarray | None, dtype: type) -> np.ndarray | None:
            if a is None:
                return None
            a = np.asarray(a)
            return a.astype(dtype, copy=False) if order is None else a[order].astype(dtype, copy=False)

        u = take(user, np.int32)
        assert u is not None
        n = len(users)
        start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(u, minlength=n), out=start[1:])
        it = take(item, np.int32)
        off = take(offset_min, np.float32)
        val = take(value, np.float64)
        return cls(
            users=pd.Index(users, dtype=object),
            user=u,
            ts=take(ts, np.float64),  # type: ignore[arg-type]
            etype=take(etype, np.int8),  # type: ignore[arg-type]
            item=it if it is not None else np.full(len(u), -1, dtype=np.int32),
            value=val if val is not None and val.any() else None,
            offset_min=off if off is not None and off.any() else None,
            start=start,
        )

    @classmethod
    def concat(cls, parts: Iterable[EventLog], n_events: int) -> EventLog:
        """Stack logs over disjoint users (codes shift by part); fills preallocated columns so
        million-user logs never exist twice in memory. Users of every part must sort after the
        previous part's (e.g. a shard prefix), which keeps the codes sorted by id."""
        user = np.empty(n_events, dtype=np.int32)
        ts = np.empty(n_events, dtype=np.float64)
        etype = np.empty(n_events, dtype=np.int8)
        item = np.empty(n_events, dtype=np.int32)
        value = np.zeros(n_events, dtype=np.float64)
        off = np.zeros(n_events, dtype=np.float32)
        ids: list[pd.Index] = []
        starts = [np.zeros(1, dtype=np.int64)]
        pos = n_users = 0
        for p in parts:
            k = len(p)
            if pos + k > n_events:
                raise InvalidArgument(f"parts hold more than the announced {n_events} events", field="n_events")
            sl = slice(pos, pos + k)
            user[sl] = p.user + n_users
            ts[sl], etype[sl], item[sl] = p.ts, p.etype, p.item
            if p.value is not None:
                value[sl] = p.value
            if p.offset_min is not None:
                off[sl] = p.offset_min
            ids.append(p.users)
            starts.append(p.start[1:] + pos)
            pos += k
            n_users += len(p.users)
        if pos != n_events:
            raise InvalidArgument(f"parts hold {pos} events, not the announced {n_events}", field="n_events")
        users = ids[0].append(ids[1:]) if ids else pd.Index([], dtype=object)
        if not users.is_monotonic_increasing or not users.is_unique:
            raise InvalidArgument("parts must have disjoint users in increasing id order", field="users")
        return cls(
            users=users,
            user=user,
            ts=ts,
            etype=etype,
            item=item,
            value=value if value.any() else None,
            offset_min=off if off.any() else None,
            start=np.concatenate(starts),
        )

    def before(self, cut_s: float) -> EventLog:
        """The log restricted to events with ``ts < cut_s`` (no copy when nothing is later)."""
        keep = self.ts < cut_s
        if keep.all():
            return self
        start = np.zeros(len(self.users) + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.user[keep], minlength=len(self.users)), out=start[1:])
        return EventLog(
            users=self.users,
            user=self.user[keep],
            ts=self.ts[keep],
            etype=self.etype[keep],
            item=self.item[keep],
            value=None if self.value is None else self.value[keep],
            offset_min=None if self.offset_min is None else self.offset_min[keep],
            start=start,
        )

    def first_ts(self) -> np.ndarray:
        """Each user's first event time (NaN for users without events)."""
        has = self.start[1:] > self.start[:-1]
        out = np.full(len(self.users), np.nan)
        out[has] = self.ts[self.start[:-1][has]]
        return out

    def rows(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of users ``codes`` (in that order, -1 = no rows) and each row's position in ``codes``."""
        codes = np.asarray(codes, dtype=np.int64)
        ok = codes >= 0
        if not ok.any():  # only unknown users (e.g. an empty log at cold start): no rows
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        lo = np.where(ok, self.start[:-1][np.maximum(codes, 0)], 0)
        ln = np.where(ok, self.start[1:][np.maximum(codes, 0)] - lo, 0)
        total = int(ln.sum())
        pos = np.repeat(np.arange(len(codes), dtype=np.int64), ln)
        first = np.cumsum(ln) - ln
        idx = np.arange(total, dtype=np.int64) - np.repeat(first, ln) + np.repeat(lo, ln)
        return idx, pos


def as_event_log(events: pd.DataFrame | EventLog) -> EventLog:
    """Pass an :class:`EventLog` through, encode a frame."""
    return events if isinstance(events, EventLog) else EventLog.from_frame(events)

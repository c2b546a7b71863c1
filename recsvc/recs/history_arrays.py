"""A request's history as arrays: the item rows, event types and unix times of its events on known items."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsvc.errors import InvalidArgument
from recsvc.recs.unixtime import to_unix, unix_seconds


def history_arrays(history: Any, row_of: dict[str, int]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(rows, event types, unix seconds) of the history events on known items."""
    if history is None or (isinstance(history, pd.DataFrame) and history.empty):
        return np.zeros(0, dtype=np.int64), [], np.zeros(0)
    if isinstance(history, pd.DataFrame):
        return _frame_history(history, row_of)
    rows: list[int] = []
    types: list[str] = []
    tss: list[float] = []
    for entry in history:
        if len(entry) != 3:
            raise InvalidArgument("history entries must be (item_id, event_type, ts)", field="history")
        iid, et, t = entry
        r = row_of.get(str(iid)) if iid is not None else None
        if r is None:
            continue
        rows.append(r)
        types.append(str(et))
        tss.append(float(t) if isinstance(t, int | float) else to_unix(t))
    return np.array(rows, dtype=np.int64), types, np.array(tss, dtype=np.float64)


def _frame_history(history: pd.DataFrame, row_of: dict[str, int]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """:func:`history_arrays` of a frame with ``item_id``, ``event_type`` and ``ts`` columns."""
    for col in ("item_id", "event_type", "ts"):
        if col not in history.columns:
            raise InvalidArgument(f"history is missing column {col!r}", field="history")
    h = history[history["item_id"].notna()]
    rows_s = h["item_id"].astype(str).map(row_of)
    keep = rows_s.notna().to_numpy()
    ts = unix_seconds(h["ts"])[keep]
    return (
        rows_s.to_numpy()[keep].astype(np.int64),
        h["event_type"].astype(str).to_numpy()[keep].tolist(),
        np.asarray(ts, dtype=np.float64),
    )

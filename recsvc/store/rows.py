"""What every store backend shares: column orders, value cleaning, event ids and frame shapes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsvc.data.io import EVENT_COLUMNS, ITEM_COLUMNS, USER_COLUMNS

# The canonical event columns with ``event_id`` first: add_events fills it in when a row has none.
EVENT_DB_COLS = ("event_id", *(c for c in EVENT_COLUMNS if c != "event_id"))
ITEM_DB_COLS = (*ITEM_COLUMNS, "attributes", "updated_at")
USER_DB_COLS = (*USER_COLUMNS, "attributes")

HistoryRow = tuple[str | None, str, float, str | None]  # (item_id, event_type, unix ts, channel): history_rows
FeedbackRow = tuple[float, str | None, str | None]  # (unix ts, item_id, payload): feedback_rows

# Writes state derived from newly stored events with the store's own cursor, inside the transaction
# that stores them; the cursor is the backend's (sqlite3 or psycopg), paired with a matching ledger.
Derive = Callable[[Any, Sequence[dict[str, Any]]], None]


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicate: int


def event_id_for(row: dict[str, Any]) -> str:
    """A stable id for an event sent without one, so a retried call stays idempotent."""
    key = "|".join(str(row.get(c, "")) for c in ("user_id", "ts", "event_type", "item_id", "campaign_id", "payload"))
    return "h-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:24]


def clean(v: Any) -> Any:
    """A plain Python value (None for every kind of missing) that any DB driver accepts."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.timestamp()
    return v


def event_import_rows(df: pd.DataFrame) -> list[tuple[Any, ...]]:
    """A canonical events frame as rows in :data:`EVENT_DB_COLS` order, ids filled in, ts in unix seconds."""
    frame = df.copy()
    missing = frame["event_id"].isna()
    if missing.any():
        frame.loc[missing, "event_id"] = [event_id_for(r) for r in frame.loc[missing].to_dict("records")]
    columns: list[list[Any]] = []
    for col in EVENT_DB_COLS:
        s = frame[col]
        if col == "ts":
            # as nanoseconds whatever the frame's resolution (pandas may hold seconds or microseconds)
            columns.append((pd.to_datetime(s, utc=True).dt.as_unit("ns").astype("int64") / 1e9).tolist())
        elif col == "ts_offset_min":
            columns.append(s.fillna(0).astype("int64").tolist())
        elif pd.api.types.is_float_dtype(s):
            columns.append([None if v != v else v for v in s.to_numpy(dtype="float64").tolist()])
        else:
            columns.append(s.astype(object).where(s.notna(), None).tolist())
    return list(zip(*columns, strict=True))


def event_row_values(row: dict[str, Any]) -> list[Any]:
    """One event dict as values in :data:`EVENT_DB_COLS` order, with its id filled in."""
    vals = [clean(row.get(col)) for col in EVENT_DB_COLS]
    if not vals[0]:
        vals[0] = event_id_for(row)
    vals[-1] = int(vals[-1] or 0)  # ts_offset_min is NOT NULL; an ignored insert would drop the row
    return vals


def with_attributes(df: pd.DataFrame, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows of ``columns`` plus a JSON ``attributes`` of every extra, non-empty column (e.g. title_zh)."""
    import json

    extra = [c for c in df.columns if c not in columns]
    out = []
    for rec in df.to_dict("records"):
        attrs = {k: clean(rec[k]) for k in extra if clean(rec.get(k)) not in (None, "")}
        out.append((*[clean(rec.get(c)) for c in columns], json.dumps(attrs, ensure_ascii=False)))
    return out


def events_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(EVENT_DB_COLS))
    df["ts"] = pd.to_datetime(df["ts"].astype("float64"), unit="s", utc=True)
    for col in ("quantity", "value", "lat", "lon"):
        df[col] = df[col].astype("float64")
    for col in ("event_id", "item_id", "channel", "campaign_id", "variant", "city", "payload"):
        df[col] = df[col].astype("string")
    df["user_id"] = df["user_id"].astype(str)
    df["event_type"] = df["event_type"].astype(str)
    df["ts_offset_min"] = df["ts_offset_min"].fillna(0).astype("int32")
    return df[list(EVENT_COLUMNS)]


def items_frame(rows: list[Any]) -> pd.DataFrame:
    df = pd.DataFrame([tuple(r) for r in rows], columns=list(ITEM_DB_COLS))
    df["in_stock"] = df["in_stock"].astype(bool)
    df["price"] = df["price"].astype("float64")
    df["updated_at"] = df["updated_at"].astype("float64")
    return df


# The attribute an upsert sets when it turns an item's ``in_stock`` from false to true (unix seconds):
# "back in stock" copy may only be written for an item that really was out of stock.
RESTOCKED_AT = "restocked_at"
_STOCK_AT = ITEM_COLUMNS.index("in_stock")


def json_object(text: Any) -> dict[str, Any]:
    try:
        obj = json.loads(text or "{}")
    except (TypeError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def with_restocks(
    recs: list[tuple[Any, ...]], before: dict[str, tuple[bool, Any]], now_s: float
) -> list[tuple[Any, ...]]:
    """``recs`` (item columns, then attributes as JSON) with ``restocked_at`` set on items coming back
    in stock, kept on those staying in stock, dropped from those running out (unless the catalog gives
    it itself). ``before`` holds each stored item's ``in_stock`` and ``restocked_at``."""
    out = []
    for r in recs:
        attrs = json_object(r[-1])
        prev = before.get(str(r[0]))
        in_stock = r[_STOCK_AT] is None or bool(r[_STOCK_AT])
        if prev is not None and in_stock and RESTOCKED_AT not in attrs:
            was_in_stock, restocked_at = prev
            if not was_in_stock:
                attrs[RESTOCKED_AT] = now_s
            elif restocked_at is not None:
                attrs[RESTOCKED_AT] = restocked_at
            r = (*r[:-1], json.dumps(attrs, ensure_ascii=False))
        out.append(r)
    return out


def stock_before(rows: Iterable[tuple[Any, Any, Any]]) -> dict[str, tuple[bool, Any]]:
    """``(item_id, in_stock, attributes)`` rows of stored items as :func:`with_restocks` wants them."""
    return {str(i): (bool(s), json_object(a).get(RESTOCKED_AT)) for i, s, a in rows}

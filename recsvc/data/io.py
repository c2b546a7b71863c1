"""Readers for the canonical events, items and users tables (see ``../shared/DATA.md``).

Files may be CSV (optionally ``.gz``), Parquet or JSON Lines; the extension decides. Every reader
returns a pandas DataFrame with the canonical columns in a fixed order and fixed dtypes, so the
training, evaluation and serving code sees one shape whatever the source (items read from a file
keep their translations after them). A file that cannot be read raises
:class:`recsvc.errors.DataError` naming the file, the row and the column.

The raw CDNOW and MovieLens 100K files are accepted too, through the small converters in
:mod:`recsvc.data.convert`; :func:`load_dataset` picks the right one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from recsvc.catalog_text import localized_column
from recsvc.errors import DataError
from recsvc.vocabulary import CHANNELS, EVENT_TYPES

EVENT_COLUMNS: tuple[str, ...] = (
    "user_id",
    "ts",
    "event_type",
    "event_id",
    "item_id",
    "quantity",
    "value",
    "channel",
    "campaign_id",
    "variant",
    "lat",
    "lon",
    "city",
    "payload",
    # The UTC offset (minutes) of the clock the timestamp was written in: 0 for unix seconds or
    # ``Z``. Send-time truth is judged in that clock (DATA.md), so it must survive parsing.
    "ts_offset_min",
)
EVENT_REQUIRED = ("user_id", "ts", "event_type")

ITEM_COLUMNS: tuple[str, ...] = (
    "item_id",
    "title",
    "description",
    "category",
    "price",
    "currency",
    "image_url",
    "video_url",
    "audio_url",
    "in_stock",
    "cities",
    "tags",
)
ITEM_REQUIRED = ("item_id", "title")

USER_COLUMNS: tuple[str, ...] = (
    "user_id",
    "signup_ts",
    "timezone",
    "locale",
    "city",
    "country",
    "push_opt_in",
    "sms_opt_in",
    "email_opt_in",
    "quiet_hours",
    "first_name",
)
USER_REQUIRED = ("user_id",)

_STR_EVENT = ("user_id", "event_type", "event_id", "item_id", "channel", "campaign_id", "variant", "city", "payload")
_OFFSET_RE = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def _suffixes(path: Path) -> list[str]:
    return [s.lower() for s in path.suffixes]


def _table_format(path: str | Path) -> tuple[Path, str]:
    """The existing file and its format by extension: "parquet", "jsonl", "csv" or "tsv"."""
    p = Path(path)
    if not p.exists():
        raise DataError(str(p), "no such file")
    suf = _suffixes(p)
    if suf and suf[-1] == ".parquet":
        return p, "parquet"
    if any(s in (".jsonl", ".ndjson", ".json") for s in suf):
        return p, "jsonl"
    if any(s in (".csv", ".tsv") for s in suf):
        return p, "tsv" if ".tsv" in suf else "csv"
    raise DataError(str(p), "unknown extension; use .csv, .csv.gz, .tsv, .parquet or .jsonl")


def _unparseable(p: Path, exc: Exception) -> DataError:
    return DataError(str(p), f"cannot be parsed: {str(exc).splitlines()[0]}")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read any supported file as strings-first DataFrame; the extension decides the format."""
    p, kind = _table_format(path)
    try:
        if kind == "parquet":
            return pd.read_parquet(p)
        if kind == "jsonl":
            return pd.read_json(p, lines=True, dtype=False, compression="infer")
        sep = "\t" if kind == "tsv" else ","
        try:  # pyarrow's reader is several times faster on million-row logs
            return pd.read_csv(p, sep=sep, dtype=str, engine="pyarrow", compression="infer")
        except Exception:  # its errors are terse; the C reader says which line is wrong
            return pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False, na_values=[""], compression="infer")
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise _unparseable(p, exc) from None


def read_events_chunks(path: str | Path, rows: int) -> Iterator[pd.DataFrame]:
    """A canonical events file as validated frames of at most ``rows`` rows each (CSV and JSON Lines
    are read piecewise, so a log larger than memory can be loaded; Parquet by row groups).

    Each frame is sorted by time, and an error names the row within the whole file."""
    p, kind = _table_format(path)
    pieces: Iterator[pd.DataFrame]
    if kind == "parquet":
        import pyarrow.parquet as pq

        pieces = (batch.to_pandas() for batch in pq.ParquetFile(p).iter_batches(batch_size=rows))
    elif kind == "jsonl":
        pieces = iter(pd.read_json(p, lines=True, dtype=False, compression="infer", chunksize=rows))
    else:
        sep = "\t" if kind == "tsv" else ","
        reader = pd.read_csv(
            p, sep=sep, dtype=str, keep_default_na=False, na_values=[""], compression="infer", chunksize=rows
        )
        pieces = iter(reader)
    offset = 0
    while True:
        try:
            raw = next(pieces)
        except StopIteration:
            return
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            raise _unparseable(p, exc) from None
        try:
            yield normalize_events(raw.reset_index(drop=True), str(p))
        except DataError as exc:
            if exc.row is None:
                raise
            raise DataError(exc.path, exc.detail, row=exc.row + offset, column=exc.column) from None
        offset += len(raw)


def _require(df: pd.DataFrame, required: Sequence[str], path: str) -> None:
    for col in required:
        if col not in df.columns:
            raise DataError(
                path, f"missing required column (columns present: {', '.join(map(str, df.columns))})", column=col
            )
        missing = df[col].isna()
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            missing |= df[col].astype("string[pyarrow]").str.strip().fillna("").eq("").to_numpy(dtype=bool)
        if missing.any():
            raise DataError(
                path, "empty value in a required column", row=int(np.argmax(missing.to_numpy())) + 1, column=col
            )


def parse_timestamps(values: pd.Series, path: str, column: str = "ts") -> tuple[pd.Series, pd.Series]:
    """Parse ISO-8601 (with ``Z`` or an offset) or unix seconds into UTC, plus the written offset.

    Returns ``(ts_utc, offset_minutes)``. The first unparsable row is reported by number.
    """
    if values.empty:
        return pd.Series([], dtype="datetime64[ns, UTC]"), pd.Series([], dtype="int32")
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = pd.to_datetime(values, utc=True)
        return ts, pd.Series(np.zeros(len(values), dtype=np.int32), index=values.index)
    text = values.astype("string[pyarrow]").str.strip()
    if pd.api.types.is_numeric_dtype(values):
        is_num = values.notna().to_numpy(dtype=bool)
    else:
        is_num = text.str.fullmatch(r"-?\d+(\.\d*)?([eE][+-]?\d+)?").fillna(False).to_numpy(dtype=bool)
    ts = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if is_num.any():
        secs = pd.to_numeric(text[is_num]).astype("float64")
        if (secs.abs() > 1e11).all():  # milliseconds, as many exporters write
            secs = secs / 1000.0
        bad = (secs < -62135596800) | (secs > 253402300799)
        if bad.any():
            row = int(np.flatnonzero(is_num)[int(np.argmax(bad.to_numpy()))])
            raise DataError(path, "timestamp out of range", row=row + 1, column=column)
        ts[is_num] = pd.to_datetime(secs, unit="s", utc=True)
    if (~is_num).any():
        ts[~is_num] = pd.to_datetime(text[~is_num], format="ISO8601", utc=True, errors="coerce")
    if ts.isna().any():
        row = int(np.argmax(ts.isna().to_numpy()))
        raise DataError(
            path,
            f"unparsable timestamp {values.iloc[row]!r} (want ISO-8601 or unix seconds)",
            row=row + 1,
            column=column,
        )
    offset = np.zeros(len(values), dtype=np.int32)
    has_off = ~is_num & ~text.str.endswith("Z").fillna(True).to_numpy(dtype=bool)
    if not has_off.any():
        return ts, pd.Series(offset, index=values.index)
    off = text[has_off].str.extract(_OFFSET_RE, expand=False).fillna("Z")
    sign = np.where(off.str.startswith("-"), -1, 1)
    digits = off.str.replace(r"[^0-9]", "", regex=True)
    hours = pd.to_numeric(digits.str[:2], errors="coerce").fillna(0).astype(int)
    mins = pd.to_numeric(digits.str[2:4], errors="coerce").fillna(0).astype(int)
    offset[has_off] = (sign * (hours * 60 + mins)).astype(np.int32)
    return ts, pd.Series(offset, index=values.index)


def normalize_events(df: pd.DataFrame, path: str = "<events>") -> pd.DataFrame:
    """Validate and coerce a raw events frame to the canonical columns, sorted by time."""
    _require(df, EVENT_REQUIRED, path)
    out = pd.DataFrame(index=df.index)
    out["user_id"] = df["user_id"].astype(str).str.strip()
    out["ts"], out["ts_offset_min"] = parse_timestamps(df["ts"], path)
    et = df["event_type"].astype(str).str.strip().str.lower()
    unknown = ~et.isin(EVENT_TYPES)
    if unknown.any():
        row = int(np.argmax(unknown.to_numpy()))
        raise DataError(
            path,
            f"unknown event_type {et.iloc[row]!r} (known: {', '.join(EVENT_TYPES)})",
            row=row + 1,
            column="event_type",
        )
    out["event_type"] = et
    for col in ("event_id", "item_id", "channel", "campaign_id", "variant", "city"):
        out[col] = df[col].astype("string") if col in df.columns else pd.Series(pd.NA, index=df.index, dtype="string")
    if "payload" in df.columns:
        pl = df["payload"]
        if pl.dtype == object:  # JSON Lines may hold objects: store them as JSON text
            nested = pl.map(lambda v: isinstance(v, dict | list))
            if nested.any():
                pl = pl.copy()
                pl[nested] = pl[nested].map(lambda v: json.dumps(v, ensure_ascii=False))
        out["payload"] = pl.astype("string")
    else:
        out["payload"] = pd.Series(pd.NA, index=df.index, dtype="string")
    for col, kind in (("quantity", "float64"), ("value", "float64"), ("lat", "float64"), ("lon", "float64")):
        if col in df.columns:
            try:
                out[col] = df[col].astype(kind)
                continue
            except (ValueError, TypeError):
                pass
            num = pd.to_numeric(df[col], errors="coerce")
            bad = num.isna() & df[col].notna() & (df[col].astype(str).str.strip() != "")
            if bad.any():
                raise DataError(path, "not a number", row=int(np.argmax(bad.to_numpy())) + 1, column=col)
            out[col] = num.astype(kind)
        else:
            out[col] = np.nan
    if "channel" in df.columns:
        ch = out["channel"].str.lower()
        badc = ch.notna() & ~ch.isin(CHANNELS)
        if badc.any():
            row = int(np.argmax(badc.to_numpy()))
            raise DataError(
                path, f"unknown channel {ch.iloc[row]!r} (known: {', '.join(CHANNELS)})", row=row + 1, column="channel"
            )
        out["channel"] = ch
    out = out[list(EVENT_COLUMNS)]
    if out["event_id"].notna().any():
        dup = out["event_id"].notna() & out.duplicated("event_id", keep="first")
        out = out[~dup]
    return out.sort_values("ts", kind="stable").reset_index(drop=True)


def read_events(path: str | Path) -> pd.DataFrame:
    """Read a canonical events file (CSV/Parquet/JSONL)."""
    return normalize_events(read_table(path), str(path))


def normalize_items(df: pd.DataFrame, path: str = "<items>") -> pd.DataFrame:
    """Validate items: ids and titles present, ids unique; optional columns filled with defaults."""
    _require(df, ITEM_REQUIRED, path)
    out = pd.DataFrame(index=df.index)
    out["item_id"] = df["item_id"].astype(str).str.strip()
    dup = out["item_id"].duplicated()
    if dup.any():
        row = int(np.argmax(dup.to_numpy()))
        raise DataError(path, f"duplicate item_id {out['item_id'].iloc[row]!r}", row=row + 1, column="item_id")
    out["title"] = df["title"].astype(str).str.strip()
    for col in ("description", "category", "currency", "image_url", "video_url", "audio_url", "cities", "tags"):
        out[col] = df[col].astype("string").fillna("") if col in df.columns else ""
    out["price"] = _numbers(df["price"], path, "price") if "price" in df.columns else np.nan
    if "in_stock" in df.columns:
        out["in_stock"] = df["in_stock"].map(_truthy).fillna(True).astype(bool)
    else:
        out["in_stock"] = True
    return out[list(ITEM_COLUMNS)].reset_index(drop=True)


def with_translations(canon: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """``canon`` (:func:`normalize_items` of ``raw``) with ``raw``'s translations beside it: its
    localized columns (``title_zh``, ...) and its ``attributes``, where the store keeps them."""
    out = canon.copy()
    for col in raw.columns:
        if col == "attributes" or localized_column(str(col)) is not None:
            out[col] = raw[col].to_numpy()
    return out


def _numbers(values: pd.Series, path: str, column: str) -> pd.Series:
    """Numbers, blanks as NaN; a value that is not a number is an error naming its row, never NaN."""
    num = pd.to_numeric(values, errors="coerce")
    bad = num.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise DataError(path, f"not a number: {values.iloc[row]!r}", row=row + 1, column=column)
    return num


def read_items(path: str | Path) -> pd.DataFrame:
    """Read a canonical items file, with its translations (``title_zh``, ``description_zh-CN``: see
    :mod:`recsvc.catalog_text`) as text columns after the canonical ones, blank for "none"."""
    raw = read_table(path)
    out = normalize_items(raw, str(path))
    for col in [c for c in raw.columns if localized_column(str(c)) is not None]:
        out[col] = raw[col].astype("string").fillna("").str.strip().reset_index(drop=True)
    return out


def _truthy(v: object) -> bool | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "y", "t"):
        return True
    if s in ("0", "false", "no", "n", "f"):
        return False
    return None


def normalize_users(df: pd.DataFrame, path: str = "<users>") -> pd.DataFrame:
    """Validate users; a missing optional column becomes the service default."""
    _require(df, USER_REQUIRED, path)
    out = pd.DataFrame(index=df.index)
    out["user_id"] = df["user_id"].astype(str).str.strip()
    if "signup_ts" in df.columns and df["signup_ts"].notna().any():
        filled = df["signup_ts"].fillna("1970-01-01T00:00:00Z")
        out["signup_ts"], _ = parse_timestamps(filled, path, "signup_ts")
    else:
        out["signup_ts"] = pd.NaT
    for col in ("timezone", "locale", "city", "country", "quiet_hours", "first_name"):
        out[col] = df[col].astype("string").fillna("") if col in df.columns else ""
    for col in ("push_opt_in", "sms_opt_in", "email_opt_in"):
        out[col] = df[col].map(_truthy).fillna(True).astype(bool) if col in df.columns else True
    return out[list(USER_COLUMNS)].reset_index(drop=True)


def read_users(path: str | Path) -> pd.DataFrame:
    """Read a canonical users file."""
    return normalize_users(read_table(path), str(path))


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write a frame in the format its extension names (timestamps as ISO-8601 UTC in text formats)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    suf = _suffixes(p)
    if suf and suf[-1] == ".parquet":
        df.to_parquet(p, index=False)
        return
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if any(s in (".jsonl", ".ndjson", ".json") for s in suf):
        out.to_json(p, orient="records", lines=True, force_ascii=False)
    else:
        out.to_csv(p, index=False)

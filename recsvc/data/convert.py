"""Small converters from the raw public data sets to the canonical tables.

- CDNOW (``CDNOW_master.txt``: customer, YYYYMMDD, CDs, dollars; ``CDNOW_sample.txt``: master id,
  sample id, date, CDs, dollars): every row is a ``purchase`` event at midnight UTC.
- MovieLens 100K (``ml-100k.inter``/``.item``/``.user``, RecBole's typed TSV): every rating is a
  ``view`` event on the movie with the rating in ``payload``; items get ``title (year)`` as title
  and the genres as category and description.

:func:`load_dataset` accepts a canonical file, one of these raw files, or the ml-100k folder, so
``recsvc evaluate`` and ``recsvc train`` take any of them with no flags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsvc.data.io import normalize_events, normalize_items, normalize_users, read_events, read_items, read_users
from recsvc.errors import DataError


@dataclass(frozen=True)
class Dataset:
    """Canonical events, plus items and users where the source has them."""

    events: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    name: str = ""


def cdnow_events(path: str | Path) -> pd.DataFrame:
    """Convert a raw CDNOW master or sample file to canonical purchase events."""
    p = Path(path)
    try:
        raw = pd.read_csv(p, sep=r"\s+", header=None, dtype=str, engine="python")
    except (OSError, ValueError) as exc:
        raise DataError(str(p), f"not a CDNOW file: {exc}") from None
    if raw.iloc[0, 0].lower().startswith("customer"):
        raw = raw.iloc[1:]
    if raw.shape[1] == 5:  # sample: master id, sample id, date, cds, dollars
        raw = raw.iloc[:, [1, 2, 3, 4]]
    if raw.shape[1] != 4:
        raise DataError(str(p), f"expected 4 or 5 whitespace-separated columns, found {raw.shape[1]}")
    raw.columns = ["user_id", "date", "quantity", "value"]
    ts = pd.to_datetime(raw["date"], format="%Y%m%d", errors="coerce", utc=True)
    if ts.isna().any():
        row = int(np.argmax(ts.isna().to_numpy()))
        raise DataError(str(p), f"bad date {raw['date'].iloc[row]!r}", row=row + 1, column="date")
    df = pd.DataFrame(
        {
            "user_id": raw["user_id"].str.lstrip("0").replace("", "0"),
            "ts": ts,
            "event_type": "purchase",
            "quantity": raw["quantity"],
            "value": raw["value"],
        }
    )
    df["event_id"] = "cdnow-" + pd.Series(np.arange(len(df)), index=df.index).astype(str)
    return normalize_events(df.reset_index(drop=True), str(p))


def _read_typed_tsv(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, encoding="latin-1")
    df.columns = [c.split(":")[0] for c in df.columns]
    return df


def movielens_dataset(folder: str | Path) -> Dataset:
    """Convert the RecBole-style ml-100k folder to canonical events, items and users."""
    d = Path(folder)
    inter = next(iter(sorted(d.glob("*.inter"))), None)
    if inter is None:
        raise DataError(str(d), "no .inter file in this folder")
    raw = _read_typed_tsv(inter)
    for col in ("user_id", "item_id", "timestamp"):
        if col not in raw.columns:
            raise DataError(str(inter), "missing column", column=col)
    ev = pd.DataFrame(
        {
            "user_id": raw["user_id"],
            "item_id": raw["item_id"],
            "ts": pd.to_numeric(raw["timestamp"]).astype("int64"),
            "event_type": "view",
            "payload": [json.dumps({"rating": float(r)}) for r in raw.get("rating", pd.Series(["0"] * len(raw)))],
            "value": np.nan,
        }
    )
    ev["event_id"] = "ml-" + ev["user_id"] + "-" + ev["item_id"]
    events = normalize_events(ev, str(inter))
    items = None
    item_file = next(iter(sorted(d.glob("*.item"))), None)
    if item_file is not None:
        it = _read_typed_tsv(item_file)
        title_col = next((c for c in it.columns if "title" in c), it.columns[1])
        blank = pd.Series("", index=it.index)
        year = it["release_year"] if "release_year" in it.columns else blank
        genres = it["class"] if "class" in it.columns else blank
        titles = it[title_col].where(year == "", it[title_col] + " (" + year + ")") if len(it) else it[title_col]
        items = normalize_items(
            pd.DataFrame(
                {
                    "item_id": it["item_id"],
                    "title": titles,
                    "category": genres.str.split(" ").str[0] if len(it) else genres,
                    "description": "Movie. Genres: " + genres,
                    "tags": genres.str.replace(" ", "|"),
                }
            ),
            str(item_file),
        )
    users = None
    user_file = next(iter(sorted(d.glob("*.user"))), None)
    if user_file is not None:
        us = _read_typed_tsv(user_file)
        users = normalize_users(
            pd.DataFrame({"user_id": us["user_id"], "country": "US", "locale": "en-US"}), str(user_file)
        )
    return Dataset(events=events, items=items, users=users, name="ml-100k")


def load_dataset(events: str | Path, items: str | Path | None = None, users: str | Path | None = None) -> Dataset:
    """Load canonical or raw public data; the path's shape picks the converter."""
    p = Path(events)
    if not p.exists():
        raise DataError(str(p), "no such file or folder")
    if p.is_dir():
        if any(p.glob("*.inter")):
            ds = movielens_dataset(p)
        else:
            raise DataError(str(p), "a folder must hold a MovieLens .inter file; pass a canonical events file")
    elif p.suffix == ".inter":
        ds = movielens_dataset(p.parent)
    elif p.name.upper().startswith("CDNOW") and p.suffix == ".txt":
        ds = Dataset(events=cdnow_events(p), name=p.stem)
    else:
        ds = Dataset(events=read_events(p), name=p.stem)
    it = ds.items
    if items is not None:
        ip = Path(items)
        it = movielens_dataset(ip.parent).items if ip.suffix == ".item" else read_items(ip)
    us = read_users(users) if users is not None else ds.users
    return Dataset(events=ds.events, items=it, users=us, name=ds.name)

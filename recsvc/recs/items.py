"""The catalog as the recommender sees it: item attributes in flat per-row lists and arrays.

Sources, statistics and features all address items by *row* (position in this table); the
table maps item ids to rows, keeps the text shown in a recommendation and the item's translations
(``title_zh``, ...: what a query in another language is matched against), and takes catalog
updates in place (a known id keeps its row, a new id gets the next one).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from recsvc.catalog_text import column_name, translations
from recsvc.recs.embeddings import item_text
from recsvc.recs.lexical import item_search_text
from recsvc.recs.rules import parse_cities


class ItemTable:
    """Item attributes as flat lists/arrays indexed by row, for cheap per-request access."""

    TEXT = (
        "title",
        "description",
        "category",
        "currency",
        "image_url",
        "video_url",
        "audio_url",
        "cities",
        "tags",
    )

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self.text: dict[str, list[str]] = {c: [] for c in self.TEXT}
        self.price = np.zeros(0, dtype=np.float64)
        self.in_stock = np.zeros(0, dtype=bool)
        self.cities: list[frozenset[str]] = []
        self.translations: list[dict[tuple[str, str], str]] = []  # per row: (field, locale key) -> text
        self.cat_codes = np.zeros(0, dtype=np.int64)
        self.categories: list[str] = []
        self._cat_of: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def _code(self, cat: str) -> int:
        key = cat.strip().lower()
        if key not in self._cat_of:
            self._cat_of[key] = len(self.categories)
            self.categories.append(cat.strip())
        return self._cat_of[key]

    def upsert(self, items: pd.DataFrame) -> np.ndarray:
        """Add or overwrite rows from a canonical items frame; returns their rows."""
        rows = np.empty(len(items), dtype=np.int64)
        new_price, new_stock, new_codes = [], [], []
        for i, rec in enumerate(items.to_dict("records")):
            iid = str(rec["item_id"])
            vals = {c: "" if rec.get(c) is None or pd.isna(rec.get(c)) else str(rec.get(c)) for c in self.TEXT}
            price = float(rec["price"]) if rec.get("price") is not None and pd.notna(rec.get("price")) else np.nan
            stock = bool(rec.get("in_stock", True)) if pd.notna(rec.get("in_stock", True)) else True
            code = self._code(vals["category"])
            texts = translations(rec)
            r = self.row_of.get(iid)
            if r is None:
                r = len(self.ids)
                self.ids.append(iid)
                self.row_of[iid] = r
                for c in self.TEXT:
                    self.text[c].append(vals[c])
                self.cities.append(parse_cities(vals["cities"]))
                self.translations.append(texts)
                new_price.append(price)
                new_stock.append(stock)
                new_codes.append(code)
            else:
                for c in self.TEXT:
                    self.text[c][r] = vals[c]
                self.cities[r] = parse_cities(vals["cities"])
                self.translations[r] = texts
                self.price[r], self.in_stock[r], self.cat_codes[r] = price, stock, code
            rows[i] = r
        if new_price:
            self.price = np.concatenate([self.price, np.array(new_price, dtype=np.float64)])
            self.in_stock = np.concatenate([self.in_stock, np.array(new_stock, dtype=bool)])
            self.cat_codes = np.concatenate([self.cat_codes, np.array(new_codes, dtype=np.int64)])
        return rows

    def to_frame(self) -> pd.DataFrame:
        df = pd.DataFrame({"item_id": self.ids, **{c: self.text[c] for c in self.TEXT}})
        df["price"] = self.price
        df["in_stock"] = self.in_stock
        keys = sorted({key for row in self.translations for key in row})
        for field, locale in keys:
            df[column_name(field, locale)] = [row.get((field, locale), "") for row in self.translations]
        return df

    def texts(self, rows: np.ndarray) -> list[str]:
        return [
            item_text({c: self.text[c][r] for c in ("title", "category", "description", "tags")}) for r in rows.tolist()
        ]

    def search_text(self, row: int) -> str:
        """Every word a query may match the item by: its texts in every language, category and tags."""
        t = self.text
        return item_search_text(
            t["title"][row], t["description"][row], t["category"][row], t["tags"][row], self.translations[row].values()
        )

    def rows_of(self, item_ids: Iterable[str]) -> np.ndarray:
        """Rows of the known ids among ``item_ids`` (unknown ids are skipped)."""
        return np.array([self.row_of[i] for i in item_ids if i in self.row_of], dtype=np.int64)

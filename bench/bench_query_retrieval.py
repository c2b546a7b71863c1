"""Retrieval by language: recall@10 of a query's category on the demo catalog, in en-US and zh-CN.

The query set is built from the demo catalog's own vocabulary (``recsvc/data/demo/tables.py``):
every category's name and every product noun, each as an (en-US, zh-CN) pair ("Cat Food" / "猫粮",
"Baby Wipes" / "婴儿湿巾", "Beauty" / "美妆"), plus a few concept queries no title spells out
("hiking" / "登山" -> sports). A query's relevant items are its category's items;
recall@10 = relevant items in the top 10 / min(10, relevant items in the catalog), averaged per
language.

Modes (``--modes``):

- ``vector``: the FAISS vector search alone (the query's MiniLM vector, top 10);
- ``hybrid``: :mod:`recsvc.recs.hybrid`, BM25 over every language's words fused with the vector
  ranks (the retrieval a query gets in serving);
- ``as-is``: the whole ``RecsModel.recommend`` with ``query_text`` for a user without history,
  with whatever ``recsvc`` is importable: run it with ``PYTHONPATH=/work/main`` (or any checkout)
  for the figure before a change. Eligibility rules apply (out-of-stock and other cities' items
  are not recommended), so its ceiling is a little under 1.

A demo app (``--users``, ``--items``, ``--days``, ``--seed``) is generated and a real model
trained on it (MiniLM embeddings, FAISS, LightGBM) in a temporary folder.

    nice -n 10 .venv/bin/python bench/bench_query_retrieval.py
    PYTHONPATH=/work/main nice -n 10 .venv/bin/python bench/bench_query_retrieval.py --modes as-is
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

import recsvc
from recsvc.data.convert import load_dataset
from recsvc.data.demo import generate_demo
from recsvc.data.demo.tables import CATEGORIES
from recsvc.recs.config import RecsConfig
from recsvc.recs.embeddings import SentenceTransformerEncoder
from recsvc.recs.index import ItemIndex
from recsvc.recs.items import ItemTable
from recsvc.recs.serving import RecRequest, RecsModel
from recsvc.recs.training import train_recs

K = 10
LOCALES = ("en-US", "zh-CN")
# Concepts a shopper types that no title or description spells out, with the category they mean.
CONCEPTS: tuple[tuple[str, str, str], ...] = (
    ("hiking", "登山", "sports"),
    ("skincare", "护肤", "beauty"),
    ("pet food", "宠物食品", "pet_supplies"),
    ("charging my phone", "手机充电", "phone_accessories"),
    ("cooking", "做饭", "kitchen"),
    ("newborn", "新生儿", "baby"),
)


@dataclass(frozen=True)
class Query:
    text: dict[str, str]  # locale -> query
    category: str
    group: str  # "category name", "product noun" or "concept"


def query_set() -> list[Query]:
    """(en-US, zh-CN) query pairs from the demo catalog's categories and product nouns, and concepts."""
    out = [Query(dict(zip(LOCALES, c.name, strict=True)), c.key, "category name") for c in CATEGORIES]
    out += [Query(dict(zip(LOCALES, n, strict=True)), c.key, "product noun") for c in CATEGORIES for n in c.nouns]
    out += [Query({"en-US": en, "zh-CN": zh}, cat, "concept") for en, zh, cat in CONCEPTS]
    return out


def train_demo_model(root: Path, args: argparse.Namespace, encoder: SentenceTransformerEncoder) -> Path:
    end = datetime(2026, 6, 1, tzinfo=UTC)
    paths = generate_demo(
        root / "demo", n_users=args.users, n_items=args.items, days=args.days, end=end, seed=args.seed, progress=False
    )
    ds = load_dataset(paths.events, items=paths.items, users=paths.users)
    cfg = RecsConfig(n_estimators=60)
    return train_recs(
        ds.events, ds.items, out_dir=root / "models", encoder=encoder, config=cfg, progress=False, users=ds.users
    )


@dataclass
class Catalog:
    """What retrieval reads: the item table, the FAISS index and the row <-> label maps."""

    items: ItemTable
    index: ItemIndex
    label_row: np.ndarray
    row_label: np.ndarray

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.index.vectors_at(self.row_label[rows])


def catalog_of(model: RecsModel) -> Catalog:
    pipe = model._pipeline
    return Catalog(pipe.items, pipe.index, pipe.label_row, pipe.row_label)


def embed_catalog(items_path: Path, encoder: SentenceTransformerEncoder) -> Catalog:
    """The catalog without a trained model (enough for the retrieval modes; as-is needs a model)."""
    from recsvc.data.io import read_items, with_translations  # with_translations: hybrid checkouts only

    raw = read_items(items_path)
    table = ItemTable()
    table.upsert(with_translations(raw, raw))
    index = ItemIndex.build(table.ids, encoder.encode(table.texts(np.arange(len(table)))), config=RecsConfig())
    row_label = index.labels_of(table.ids)
    label_row = np.full(index.n_labels, -1, dtype=np.int64)
    label_row[row_label] = np.arange(len(row_label))
    return Catalog(table, index, label_row, row_label)


def retrievers(
    cat: Catalog, model: RecsModel | None, encoder: SentenceTransformerEncoder
) -> dict[str, Callable[[str], list[str]]]:
    """Mode -> function from a query to the top-10 item ids."""

    def ids_of(rows: np.ndarray) -> list[str]:
        return [cat.items.ids[int(r)] for r in rows]

    def vector(q: str) -> list[str]:
        labels, _ = cat.index.search_labels(encoder.encode([q])[0], K)
        rows = cat.label_row[labels[0][labels[0] >= 0]]
        return ids_of(rows[rows >= 0])

    out: dict[str, Callable[[str], list[str]]] = {"vector": vector}
    if model is not None:
        rec = model

        def as_is(q: str) -> list[str]:
            now = datetime(2026, 6, 1, tzinfo=UTC)
            return [c.item_id for c in rec.recommend(RecRequest(user_id="bench-query", now=now, query_text=q, k=K))]

        out["as-is"] = as_is
    try:
        from recsvc.recs.hybrid import QueryRetriever
    except ImportError:  # a checkout without hybrid retrieval
        return out
    retriever = QueryRetriever(cat.items, model.config if model is not None else RecsConfig())

    def hybrid(q: str) -> list[str]:
        qvec = encoder.encode([q])[0] if retriever.vector_reads(q) else None
        return ids_of(retriever.search(q, qvec, cat.index, cat.label_row, cat.vectors).rows[:K])

    out["hybrid"] = hybrid
    return out


def evaluate(
    queries: list[Query], category_of: dict[str, str], run: Callable[[str], list[str]]
) -> dict[tuple[str, str], list[float]]:
    """(locale, group) -> recall@10 of each query."""
    sizes: dict[str, int] = {}
    for cat in category_of.values():
        sizes[cat] = sizes.get(cat, 0) + 1
    out: dict[tuple[str, str], list[float]] = {}
    for q in queries:
        for loc in LOCALES:
            top = run(q.text[loc])[:K]
            hits = sum(category_of.get(i) == q.category for i in top)
            out.setdefault((loc, q.group), []).append(hits / min(K, sizes.get(q.category, 1)))
    return out


def report(mode: str, res: dict[tuple[str, str], list[float]]) -> None:
    groups = sorted({g for _, g in res})
    for loc in LOCALES:
        every = [v for (lc, _), vals in res.items() if lc == loc for v in vals]
        per = " | ".join(f"{np.mean(res[(loc, g)]):.3f}" for g in groups)
        print(f"| {mode} | {loc} | {len(every)} | {np.mean(every):.3f} | {per} |")
    en = np.mean([v for (lc, _), vals in res.items() if lc == "en-US" for v in vals])
    zh = np.mean([v for (lc, _), vals in res.items() if lc == "zh-CN" for v in vals])
    print(f"| {mode} | zh-CN / en-US | | {zh / en if en else float('nan'):.3f} | |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", nargs="+", default=["vector", "hybrid", "as-is"], choices=["vector", "hybrid", "as-is"])
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--items", type=int, default=600)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(f"recsvc from {Path(recsvc.__file__).parent}")
    encoder = SentenceTransformerEncoder()
    queries = query_set()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        model = None
        if "as-is" in args.modes:
            model = RecsModel.load(train_demo_model(Path(tmp), args, encoder), encoder)
            cat = catalog_of(model)
        else:  # the retrieval modes need no trained model: the same seeded catalog, embedded
            demo = generate_demo(
                Path(tmp) / "demo",
                n_users=args.users,
                n_items=args.items,
                days=args.days,
                end=datetime(2026, 6, 1, tzinfo=UTC),
                seed=args.seed,
                progress=False,
            )
            cat = embed_catalog(demo.items, encoder)
        category_of = dict(zip(cat.items.ids, cat.items.text["category"], strict=True))
        print(f"{len(cat.items)} items, {len(queries)} query pairs; ready in {time.perf_counter() - t0:.0f} s")
        runs = retrievers(cat, model, encoder)
        groups = sorted({q.group for q in queries})
        print(f"\n| mode | locale | queries | recall@10 | {' | '.join(groups)} |")
        print("|---|---|---|---|" + "---|" * len(groups))
        for mode in args.modes:
            if mode not in runs:
                print(f"| {mode} | (not in this checkout) | | | |")
                continue
            report(mode, evaluate(queries, category_of, runs[mode]))


if __name__ == "__main__":
    main()

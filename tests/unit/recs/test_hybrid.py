from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsvc.recs.config import RecsConfig
from recsvc.recs.embeddings import SentenceTransformerEncoder
from recsvc.recs.hybrid import QueryHits, QueryRetriever, query_led_scores
from recsvc.recs.index import ItemIndex
from recsvc.recs.items import ItemTable
from recsvc.recs.serving import RecRequest, RecsModel
from tests.unit.recs.conftest import CUTOFF

_ITEMS = pd.DataFrame(
    [
        ("p1", "Harbor Fresh Cat Food, 2kg", "港湾鲜享猫粮 2公斤", "pet_supplies"),
        ("p2", "Nova Classic Dog Food, 10kg", "诺瓦经典狗粮 10公斤", "pet_supplies"),
        ("b1", "Cloud Ultra Baby Wipes, 80 Count", "云朵超能婴儿湿巾 80片", "baby"),
        ("t1", "Lumi Daily Green Tea, 20 Bags", "露米日常绿茶 20袋", "coffee_tea"),
        ("s1", "Pebble Natural Camping Tent, 2-Person", "石子天然帐篷 双人", "sports"),
    ],
    columns=["item_id", "title", "title_zh", "category"],
)


@pytest.fixture(scope="module")
def table_and_index(encoder: SentenceTransformerEncoder) -> tuple[ItemTable, ItemIndex, np.ndarray]:
    table = ItemTable()
    table.upsert(_ITEMS)
    index = ItemIndex.build(table.ids, encoder.encode(table.texts(np.arange(len(table)))), config=RecsConfig())
    return table, index, index.labels_of(table.ids)


def _label_row(index: ItemIndex, row_label: np.ndarray) -> np.ndarray:
    out = np.full(index.n_labels, -1, dtype=np.int64)
    out[row_label] = np.arange(len(row_label))
    return out


def test_a_chinese_query_is_answered_by_the_lexical_index_alone(
    table_and_index: tuple[ItemTable, ItemIndex, np.ndarray],
) -> None:
    table, index, row_label = table_and_index
    retriever = QueryRetriever(table, RecsConfig())
    assert not retriever.vector_reads("猫粮") and retriever.vector_reads("cat food")
    hits = retriever.search("猫粮", None, index, _label_row(index, row_label))
    assert not hits.vector_voted
    assert table.ids[int(hits.rows[0])] == "p1"
    assert {table.ids[int(r)] for r in hits.rows} <= {"p1", "p2"}  # 猫 or 粮: only pet food matches
    assert RecsConfig(embedding_reads_cjk=True).embedding_reads_cjk
    assert QueryRetriever(table, RecsConfig(embedding_reads_cjk=True)).vector_reads("猫粮")


def test_a_chinese_query_borrows_the_vector_of_its_best_lexical_hits(
    table_and_index: tuple[ItemTable, ItemIndex, np.ndarray],
) -> None:
    table, index, row_label = table_and_index
    retriever = QueryRetriever(table, RecsConfig(query_feedback_hits=1))
    hits = retriever.search(
        "猫粮", None, index, _label_row(index, row_label), lambda rows: index.vectors_at(row_label[rows])
    )
    assert hits.vector_voted and table.ids[int(hits.rows[0])] == "p1"
    assert len(hits.rows) == len(table)  # the vector vote ranks items no character matches
    off = QueryRetriever(table, RecsConfig(query_feedback_hits=0))
    lone = off.search("猫粮", None, index, _label_row(index, row_label), lambda rows: index.vectors_at(row_label[rows]))
    # alone, the words find the cat food only (the query's 粮 counts only inside its known bigram 猫粮)
    assert not lone.vector_voted and [table.ids[int(r)] for r in lone.rows] == ["p1"]


def test_an_english_query_fuses_words_and_vectors(
    table_and_index: tuple[ItemTable, ItemIndex, np.ndarray], encoder: SentenceTransformerEncoder
) -> None:
    table, index, row_label = table_and_index
    retriever = QueryRetriever(table, RecsConfig(k_query=3))
    hits = retriever.search("baby wipes", encoder.encode(["baby wipes"])[0], index, _label_row(index, row_label))
    assert hits.vector_voted and len(hits.rows) == 3  # the vector ranking proposes items no word matches
    assert table.ids[int(hits.rows[0])] == "b1"
    assert list(hits.scores) == sorted(hits.scores, reverse=True)
    # a concept no title spells out is found by the vector vote only
    tent = retriever.search("hiking gear", encoder.encode(["hiking gear"])[0], index, _label_row(index, row_label))
    assert "s1" in {table.ids[int(r)] for r in tent.rows}


def test_updates_make_new_words_findable(table_and_index: tuple[ItemTable, ItemIndex, np.ndarray]) -> None:
    _, index, row_label = table_and_index
    mine = ItemTable()
    mine.upsert(_ITEMS)
    retriever = QueryRetriever(mine, RecsConfig())
    assert len(retriever.search("猫砂", None, index, _label_row(index, row_label)).rows) <= 1  # 猫 of 猫粮 only
    rows = mine.upsert(pd.DataFrame([{"item_id": "p3", "title": "Kiwi Cat Litter", "title_zh": "奇异猫砂"}]))
    retriever.update(rows)
    hits = retriever.search("猫砂", None, index, _label_row(index, row_label))
    assert mine.ids[int(hits.rows[0])] == "p3"


def test_the_query_leads_and_history_only_reorders_its_head() -> None:
    rows = np.array([10, 11, 12, 13, 14, 15])
    ranker = np.array([0.9, 0.25, 0.2, 0.8, 0.3, 5.0])  # 15 is the ranker's favourite, not the query's
    hits = QueryHits(np.array([12, 11, 13, 14]), np.array([0.4, 0.3, 0.2, 0.1], dtype=np.float32), True)
    ok = np.array([True, True, True, True, False, True])  # 14 not eligible
    scores = query_led_scores(rows, ranker, ok, hits, depth=2, query_weight=0.7)
    order = rows[np.argsort(-scores)]
    assert order[:3].tolist() == [12, 11, 13]  # the head keeps the query's order at weight 0.7
    assert set(order[3:5].tolist()) == {15, 10}
    flipped = query_led_scores(rows, ranker, ok, hits, depth=2, query_weight=0.0)
    assert rows[np.argsort(-flipped)][:3].tolist() == [11, 12, 13]  # only history: the ranker's order


@pytest.fixture()
def model(model_dir: Path, encoder: SentenceTransformerEncoder) -> RecsModel:
    return RecsModel.load(model_dir, encoder)


def test_recommend_with_a_chinese_query_finds_an_upserted_translation(model: RecsModel) -> None:
    now = CUTOFF.to_pydatetime()
    before = model.recommend(RecRequest(user_id="q", now=now, query_text="抹茶", k=3))
    assert all("抹茶" not in c.reason for c in before)  # nothing matched: no reason claims the query
    new = pd.DataFrame([{"item_id": "tea-9", "title": "Matcha powder", "title_zh": "宇治抹茶粉", "category": "tea"}])
    model.upsert_items(new)
    recs = model.recommend(RecRequest(user_id="q", now=now, query_text="抹茶", k=3))
    assert recs[0].item_id == "tea-9" and "抹茶" in recs[0].reason
    # translations kept as attributes (how the store hands them over) are read too
    attrs = pd.DataFrame([{"item_id": "tea-8", "title": "Hojicha", "attributes": '{"title_zh": "焙茶"}'}])
    model.upsert_items(attrs)
    assert model.recommend(RecRequest(user_id="q", now=now, query_text="焙茶", k=1))[0].item_id == "tea-8"


def test_a_query_finds_an_item_the_user_has_already_seen(model: RecsModel) -> None:
    now = CUTOFF.to_pydatetime()
    sencha = {"item_id": "tea-7", "title": "Sencha", "title_zh": "宇治煎茶", "category": "tea"}
    model.upsert_items(pd.DataFrame([sencha]))
    seen = pd.DataFrame(
        [{"user_id": "q", "ts": CUTOFF - pd.Timedelta(days=2), "event_type": "view", "item_id": "tea-7", "city": ""}]
    )
    # discovery skips what the user has touched; a searcher still gets what matches
    assert "tea-7" not in [c.item_id for c in model.recommend(RecRequest(user_id="q", history=seen, now=now, k=10))]
    recs = model.recommend(RecRequest(user_id="q", history=seen, now=now, query_text="煎茶", k=3))
    assert recs[0].item_id == "tea-7"


def test_an_english_query_fills_the_list_with_its_category(model: RecsModel, log: pd.DataFrame) -> None:
    hist = log[(log["user_id"] == "u0") & (log["ts"] < CUTOFF)]  # a coffee lover
    recs = model.recommend(
        RecRequest(user_id="u0", history=hist, now=CUTOFF.to_pydatetime(), query_text="baby wipes and diapers", k=6)
    )
    assert recs[0].category == "baby"
    assert sum(c.category == "baby" for c in recs) >= 5  # the diversity cap does not spread a query


def test_query_settings_are_checked() -> None:
    from recsvc.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="k_query"):
        replace(RecsConfig(), k_query=0).validate()
    with pytest.raises(InvalidArgument, match="query_lexical_weight"):
        replace(RecsConfig(), query_lexical_weight=0.0, query_vector_weight=0.0).validate()
    with pytest.raises(InvalidArgument, match="query_vector_weight"):
        replace(RecsConfig(), query_vector_weight=-1.0).validate()

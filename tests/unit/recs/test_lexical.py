from __future__ import annotations

from recsvc.recs.lexical import LexicalIndex, item_search_text, reciprocal_rank_fusion, tokenize

_ITEMS = [
    ("Harbor Fresh Cat Food, 2kg", "港湾鲜享猫粮 2公斤", "pet_supplies"),
    ("Nova Classic Pet Shampoo", "诺瓦经典宠物香波", "pet_supplies"),
    ("Cloud Ultra Baby Wipes, Size L", "云朵超能婴儿湿巾 L码", "baby"),
    ("Lumi Daily Green Tea", "露米日常绿茶", "coffee_tea"),
    ("Jade Natural Beef Jerky", "翡翠天然牛肉干", "snacks"),
]


def _index() -> LexicalIndex:
    return LexicalIndex.build([item_search_text(t, "", c, "", [zh]) for t, zh, c in _ITEMS])


def test_tokens_are_words_and_cjk_ngrams() -> None:
    assert tokenize("Baby Wipes, 婴儿湿巾") == ["baby", "wipe", "婴", "儿", "湿", "巾", "婴儿", "儿湿", "湿巾"]
    assert tokenize("Berries") == ["berry"] and tokenize("glass") == ["glass"]


def test_a_chinese_query_finds_the_chinese_titled_item_first() -> None:
    ix = _index()
    rows, scores = ix.search("猫粮", 3)
    assert rows[0] == 0 and scores[0] > 0
    assert ix.search("婴儿湿巾", 1)[0].tolist() == [2]
    assert ix.search("绿茶", 1)[0].tolist() == [3]


def test_an_english_query_matches_plural_and_singular() -> None:
    ix = _index()
    assert ix.search("baby wipe", 1)[0].tolist() == [2]
    assert ix.search("cat foods", 1)[0].tolist() == [0]


def test_no_match_returns_nothing_rather_than_arbitrary_items() -> None:
    rows, scores = _index().search("自行车 bicycle", 5)
    assert len(rows) == 0 and len(scores) == 0


def test_rare_terms_outweigh_common_ones() -> None:
    ix = _index()
    s = ix.scores("pet supplies shampoo")
    assert s[1] > s[0] > 0 and s[2] == 0


def test_rank_fusion_rewards_agreement() -> None:
    fused = reciprocal_rank_fusion([[3, 1, 2], [1, 4]])
    assert max(fused, key=lambda r: fused[r]) == 1
    assert set(fused) == {1, 2, 3, 4}

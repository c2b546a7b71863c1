from __future__ import annotations

import pytest

from recsvc.recs.lexical import LexicalIndex, has_cjk, item_search_text, reciprocal_rank_fusion, tokenize

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


def test_a_chinese_query_word_never_matches_its_character_inside_another_word() -> None:
    # 熊猫 (panda) holds 猫 (cat): with a cat-food item in the index, "猫粮" finds only it
    ix = LexicalIndex.build(["港湾鲜享猫粮 2公斤", "熊猫优选环保T恤 S码", "熊猫优选天然浴巾"])
    assert ix.query_terms("猫粮") == ["猫粮"]
    assert ix.search("猫粮", 5)[0].tolist() == [0]
    # without one, the characters still match alone
    ix = LexicalIndex.build(["熊猫优选环保T恤 S码", "诺瓦超能猫爬架"])
    assert sorted(ix.query_terms("猫粮")) == ["猫"]
    assert sorted(ix.search("猫粮", 5)[0].tolist()) == [0, 1]
    # a character no known bigram covers still counts beside the bigram
    assert LexicalIndex.build(["猫粮", "猫砂盆"]).query_terms("猫粮盆") == ["猫粮", "盆"]


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


def test_weighted_fusion_lets_one_ranking_lead() -> None:
    fused = reciprocal_rank_fusion([[1, 2], [2, 1]], weights=[2.0, 1.0])
    assert fused[1] > fused[2]
    assert reciprocal_rank_fusion([[5]], weights=[0.0]) == {5: 0.0}


def test_texts_can_be_replaced_and_appended_after_a_search() -> None:
    ix = _index()
    assert ix.search("牵引绳", 5)[0].tolist() == []
    ix.set_texts([5], ["Harbor Dog Leash 港湾牵引绳"])  # a new item, the next row
    ix.set_texts([3], ["Lumi Oolong 露米乌龙茶"])  # an item renamed
    assert ix.size == 6
    assert ix.search("牵引绳", 1)[0].tolist() == [5]
    assert ix.search("绿", 5)[0].tolist() == []  # the old name is gone
    assert ix.search("乌龙茶", 1)[0].tolist() == [3]
    with pytest.raises(ValueError, match="skips rows"):
        ix.set_texts([9], ["gap"])


def test_cjk_detection() -> None:
    assert has_cjk("猫粮") and has_cjk("iPhone 手机壳") and has_cjk("キャット")
    assert not has_cjk("cat food") and not has_cjk("café 2kg")

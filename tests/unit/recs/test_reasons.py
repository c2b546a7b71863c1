"""A reason is said in the reader's language, naming the item behind it by its title in that language."""

from __future__ import annotations

from recsvc.recs.reasons import PHRASES, Reason
from recsvc.vocabulary import LOCALES

ZH_TITLES = {"tea": "绿茶"}


def test_a_reason_names_its_item_in_the_readers_locale_else_by_its_default_title() -> None:
    together = Reason("together", item_id="tea", item_title="Green Tea")
    assert together.text() == "often chosen together with Green Tea"
    assert together.text("zh-CN", ZH_TITLES.get) == "常与绿茶一起选购"
    assert together.text("zh-TW", ZH_TITLES.get) == "常与绿茶一起选购"  # written in zh-CN copy
    assert together.text("zh-CN", lambda _: "") == "常与Green Tea一起选购"  # no translation: the default title
    assert Reason("bought", item_id="cup", item_title="Cup").text("zh-CN", ZH_TITLES.get) == "因为你买过Cup"
    assert Reason("restock", "12").text("zh-CN") == "该补货了：你12天前买过"
    assert Reason("popular_city", "Shanghai").text() == "popular in Shanghai this week"


def test_every_kind_of_reason_is_said_in_every_locale() -> None:
    assert set(PHRASES) == set(LOCALES)
    kinds = set(PHRASES["en-US"])
    assert all(set(phrases) == kinds for phrases in PHRASES.values())

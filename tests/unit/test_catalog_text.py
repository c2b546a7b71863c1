"""Which title and description a reader sees: the most specific translation, else the default."""

from __future__ import annotations

import json

import pytest

from recsvc.catalog_text import ItemText, all_titles, is_locale_tag, item_text, localized_column, lookup_chain

TEA = {"item_id": "tea", "title": "Green Tea", "description": "Loose leaf."}


@pytest.mark.parametrize(
    ("extra", "locale", "want"),
    [
        ({"title_zh": "绿茶"}, "zh-CN", "绿茶"),
        ({"title_zh": "绿茶"}, "zh_CN", "绿茶"),
        ({"title_zh": "绿茶", "title_zh-CN": "龙井"}, "zh-CN", "龙井"),  # the locale before its language
        ({"title_zh": "绿茶", "title_zh_CN": "龙井"}, "zh-CN", "龙井"),  # '_' and '-' are one column
        ({"TITLE_ZH-cn": "龙井"}, "zh-CN", "龙井"),  # case is ignored
        ({"title_zh-TW": "綠茶", "title_zh": "绿茶"}, "zh-TW", "綠茶"),
        ({"title_zh": "绿茶"}, "zh-TW", "绿茶"),  # the language when the region has none
        ({"title_zh-CN": "龙井"}, "zh-HK", "龙井"),  # then the copy's locale: Chinese copy, Chinese title
        ({"title_zh": "绿茶"}, "en-US", "Green Tea"),  # an English reader keeps the default
        ({"title_en": "Green tea, loose"}, "en-US", "Green tea, loose"),
        ({"title_zh": "绿茶"}, "fr-FR", "Green Tea"),
        ({"title_zh": "绿茶"}, "", "Green Tea"),
        ({}, "zh-CN", "Green Tea"),  # no translation: the default
        ({"title_zh": "   "}, "zh-CN", "Green Tea"),  # a blank translation is none
        ({"title_zh": None}, "zh-CN", "Green Tea"),
        ({"title_zh1": "绿茶", "title_z": "绿茶", "subtitle_zh": "绿茶"}, "zh-CN", "Green Tea"),  # no translations
    ],
)
def test_title_for_a_locale(extra: dict[str, object], locale: str, want: str) -> None:
    assert item_text({**TEA, **extra}, locale).title == want


def test_title_and_description_fall_back_separately() -> None:
    row = {**TEA, "title_zh": "绿茶"}
    assert item_text(row, "zh-CN") == ItemText("绿茶", "Loose leaf.")
    row = {**TEA, "description_zh-CN": "散装茶叶。"}
    assert item_text(row, "zh-CN") == ItemText("Green Tea", "散装茶叶。")


def test_translations_in_the_stores_attributes() -> None:
    stored = {**TEA, "attributes": json.dumps({"title_zh": "绿茶", "description_zh": "散装。", "brand": "X"})}
    assert item_text(stored, "zh-CN") == ItemText("绿茶", "散装。")
    assert item_text({**stored, "title_zh": "龙井"}, "zh-CN").title == "龙井"  # a column beats an attribute
    assert item_text({**TEA, "attributes": {"title_zh": "绿茶"}}, "zh-CN").title == "绿茶"  # a mapping works too
    # A damaged attributes value hides the translations, never the item.
    assert item_text({**TEA, "attributes": "{oops"}, "zh-CN") == ItemText("Green Tea", "Loose leaf.")


def test_all_titles_are_every_name_of_an_item() -> None:
    row = {**TEA, "title_zh": "绿茶", "attributes": json.dumps({"title_ja": "緑茶", "title_fr": "Green Tea"})}
    assert all_titles(row) == ["Green Tea", "绿茶", "緑茶"]


def test_locale_names() -> None:
    assert lookup_chain("zh-Hant-TW") == ("zh_hant_tw", "zh_hant", "zh", "zh_cn")
    assert lookup_chain("en-US") == ("en_us", "en")
    assert lookup_chain("not a locale!") == ("en_us", "en")
    assert localized_column("title_zh-CN") == ("title", "zh_cn")
    assert localized_column("description_zh") == ("description", "zh")
    assert localized_column("category_zh") is None and localized_column("title") is None
    assert is_locale_tag("zh-CN") and is_locale_tag("zh") and not is_locale_tag("c") and not is_locale_tag("zh CN")

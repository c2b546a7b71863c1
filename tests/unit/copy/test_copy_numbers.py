from __future__ import annotations

from recsvc.copy.numbers import format_price


def test_format_price() -> None:
    assert format_price(89.0, "USD", "en-US") == "$89"
    assert format_price(89.5, "EUR", "en-US") == "€89.50"
    assert format_price(10.0, "", "zh-CN") == "¥10"
    assert format_price(None, "USD", "en-US") == ""
    assert format_price(5.0, "CHF", "en-US") == "5 CHF"

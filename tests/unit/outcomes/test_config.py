"""The [attribution] settings: windows must be > 0 and the model one the code knows."""

from __future__ import annotations

import pytest

from recsvc.errors import InvalidArgument
from recsvc.settings import load_settings


def test_defaults_and_environment() -> None:
    s = load_settings(env={"RECSVC_ATTRIBUTION_CONVERSION_WINDOW_H": "48"})
    a = s.attribution
    assert (a.open_window_h, a.click_window_h, a.conversion_window_h, a.model) == (24.0, 24.0, 48.0, "last_touch")


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"RECSVC_ATTRIBUTION_OPEN_WINDOW_H": "0"}, "attribution.open_window_h"),
        ({"RECSVC_ATTRIBUTION_CLICK_WINDOW_H": "-1"}, "attribution.click_window_h"),
        ({"RECSVC_ATTRIBUTION_CONVERSION_WINDOW_H": "nan"}, "attribution.conversion_window_h"),
        ({"RECSVC_ATTRIBUTION_FEEDBACK_WINDOW_H": "-0.5"}, "attribution.feedback_window_h"),
        ({"RECSVC_ATTRIBUTION_MODEL": "linear"}, "attribution.model"),
    ],
)
def test_bad_windows_and_models_name_the_field(env: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        load_settings(env=env)
    assert info.value.field == field and field in str(info.value)

from __future__ import annotations

from dataclasses import replace

import pytest

from recsvc.errors import InvalidArgument
from recsvc.recs.config import RecsConfig


def test_config_validate_names_field() -> None:
    RecsConfig().validate()
    with pytest.raises(InvalidArgument) as err:
        replace(RecsConfig(), k_cooc=-1).validate()
    assert err.value.field == "k_cooc"
    with pytest.raises(InvalidArgument, match="max_category_share"):
        replace(RecsConfig(), max_category_share=0.0).validate()

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


@pytest.mark.parametrize(
    ("field", "value"),
    [("k_als", -1), ("als_iterations", 0), ("als_factors", ()), ("als_factors", (16, 0)), ("als_alphas", (0.0,))],
)
def test_als_settings_are_checked(field: str, value: object) -> None:
    with pytest.raises(InvalidArgument) as err:
        replace(RecsConfig(), **{field: value}).validate()
    assert err.value.field == field


def test_als_grids_survive_the_saved_config() -> None:
    from dataclasses import asdict

    from recsvc.recs.artifact import config_from_metadata

    cfg = replace(RecsConfig(), als_factors=(8, 32), als_regularizations=(0.5,), als_alphas=(2.0, 4.0))
    saved = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
    assert config_from_metadata({"config": saved}) == cfg

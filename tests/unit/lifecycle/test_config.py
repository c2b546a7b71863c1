from __future__ import annotations

import pytest

from recsvc.errors import InvalidArgument
from recsvc.lifecycle.config import LifecycleConfig


def test_config_names_the_bad_field() -> None:
    with pytest.raises(InvalidArgument, match="learning_rate"):
        LifecycleConfig(learning_rate=0).validate()
    with pytest.raises(InvalidArgument, match="min_label_fraction"):
        LifecycleConfig(min_label_fraction=1.5).validate()

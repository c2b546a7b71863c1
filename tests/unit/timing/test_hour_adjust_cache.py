"""A user's hour multiplier is computed once per fitted model and served read-only."""

from __future__ import annotations

import numpy as np
import pytest

from recsvc.timing.sendtime import SendTimeModel


def test_the_cached_multiplier_equals_a_fresh_one_and_cannot_be_changed(
    fitted: tuple[SendTimeModel, dict[str, int]],
) -> None:
    fitted_model = fitted[0]
    uid = fitted_model.user_ids[0]
    first = fitted_model._hour_adjust(uid)
    assert fitted_model._hour_adjust(uid) is first
    np.testing.assert_array_equal(first, fitted_model._compute_hour_adjust(uid))
    with pytest.raises(ValueError):
        first[0] = 2.0
    assert fitted_model._hour_adjust("no-such-user").tolist() == [1.0] * 24

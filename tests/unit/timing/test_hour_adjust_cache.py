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


def test_users_without_a_profile_share_one_multiplier_and_fill_no_cache(
    fitted: tuple[SendTimeModel, dict[str, int]],
) -> None:
    fitted_model = fitted[0]
    fitted_model._adjust_cache.clear()
    assert fitted_model._hour_adjust("no-such-user") is fitted_model._hour_adjust("another-unknown")
    assert fitted_model._adjust_cache == {}


def test_the_cache_starts_again_at_its_bound_and_answers_stay_the_same(
    fitted: tuple[SendTimeModel, dict[str, int]],
) -> None:
    fitted_model = fitted[0]
    users = list(fitted_model.user_ids[:5])
    fresh = {u: fitted_model._compute_hour_adjust(u) for u in users}
    fitted_model._adjust_cache.clear()
    fitted_model.adjust_cache_users = 2
    try:
        for u in users:
            np.testing.assert_array_equal(fitted_model._hour_adjust(u), fresh[u])
            assert len(fitted_model._adjust_cache) <= 2
    finally:
        fitted_model.adjust_cache_users = 500_000
        fitted_model._adjust_cache.clear()

"""Thompson sampling: learning, the exploration floor, the reset on a new variant set, JSON state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.experiments.bandit import BanditConfig, MemoryBanditState, ThompsonBandit, variant_set_key

CTX = "interest|scheduled|app_push|en-US"


def test_update_moves_the_posterior_from_the_prior() -> None:
    bandit = ThompsonBandit(config=BanditConfig(prior_alpha=2.0, prior_beta=3.0))
    bandit.update(CTX, "b", successes=4, trials=10, variants=["a", "b"])
    a, b = bandit.posterior(CTX, ["a", "b"])
    assert a.tolist() == [2.0, 6.0] and b.tolist() == [3.0, 9.0]


def test_a_changed_variant_set_starts_from_the_prior() -> None:
    bandit = ThompsonBandit()
    bandit.update(CTX, "a", 50, 100, ["a", "b"])
    assert bandit.posterior(CTX, ["b", "a"])[0].tolist() == [1.0, 51.0]  # order does not matter
    a, b = bandit.posterior(CTX, ["a", "b", "c"])  # a variant added: a fresh bandit
    assert a.tolist() == [1.0, 1.0, 1.0] and b.tolist() == [1.0, 1.0, 1.0]
    assert bandit.posterior(CTX, ["a", "b"])[0].tolist() == [51.0, 1.0]  # the old counts are kept
    assert variant_set_key(["a", "b"]) == variant_set_key(["b", "a"]) != variant_set_key(["a", "b", "c"])


def test_contexts_learn_separately() -> None:
    bandit = ThompsonBandit()
    bandit.update(CTX, "a", 5, 5, ["a", "b"])
    assert bandit.posterior("churning|cart_idle|sms|zh-CN", ["a", "b"])[0].tolist() == [1.0, 1.0]


def test_it_finds_the_best_variant() -> None:
    rng = np.random.default_rng(3)
    rates = {"a": 0.02, "b": 0.08, "c": 0.04}
    bandit = ThompsonBandit(config=BanditConfig(floor=0.0))
    for _ in range(200):
        v = bandit.choose(CTX, list(rates), rng)
        bandit.update(CTX, v, int(rng.random() < rates[v]) * 10, 10)
    share = bandit.allocation(CTX, list(rates), rng)
    assert share["b"] > 0.8


def test_the_floor_keeps_every_variant_in_play() -> None:
    bandit = ThompsonBandit(config=BanditConfig(floor=0.3))
    variants = ["a", "b", "c"]
    bandit.update(CTX, "a", 10_000, 10_000, variants)  # "a" is certain to win every draw
    share = bandit.allocation(CTX, variants, np.random.default_rng(0), draws=100_000)
    for v in ("b", "c"):
        assert share[v] == pytest.approx(0.1, abs=0.01)  # floor / K
    assert share["a"] == pytest.approx(0.8, abs=0.01)


def test_update_without_variants_uses_the_set_last_chosen_from() -> None:
    bandit = ThompsonBandit()
    with pytest.raises(FailedPrecondition):
        bandit.update(CTX, "a", 1, 1)
    bandit.choose(CTX, ["a", "b"], np.random.default_rng(1))
    bandit.update(CTX, "a", 1, 1)
    assert bandit.posterior(CTX, ["a", "b"])[0].tolist() == [2.0, 1.0]


def test_state_is_plain_json() -> None:
    state = MemoryBanditState()
    bandit = ThompsonBandit(state)
    bandit.update(CTX, "a", 3, 7, ["a", "b"])
    copy = ThompsonBandit(MemoryBanditState.from_json(json.loads(json.dumps(state.to_json()))))
    assert copy.posterior(CTX, ["a", "b"])[1].tolist() == [5.0, 1.0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"variant": "z", "successes": 1, "trials": 1}, "variant"),
        ({"variant": "a", "successes": 3, "trials": 2}, "successes"),
        ({"variant": "a", "successes": -1, "trials": 2}, "successes"),
    ],
)
def test_bad_updates_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        ThompsonBandit().update(CTX, variants=["a", "b"], **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_bad_config_and_variants_name_the_field() -> None:
    with pytest.raises(InvalidArgument) as err:
        ThompsonBandit(config=BanditConfig(prior_alpha=0.0))
    assert err.value.field == "bandit.prior_alpha"
    with pytest.raises(InvalidArgument) as err:
        ThompsonBandit(config=BanditConfig(floor=1.5))
    assert err.value.field == "bandit.floor"
    with pytest.raises(InvalidArgument) as err:
        ThompsonBandit().choose(CTX, ["a", "a"], np.random.default_rng(0))
    assert err.value.field == "variants"


def test_without_reset_the_variants_that_stay_keep_their_counts() -> None:
    bandit = ThompsonBandit(config=BanditConfig(reset_on_variant_change=False))
    bandit.update(CTX, "a", 50, 100, ["a", "b"])
    a, b = bandit.posterior(CTX, ["a", "c"])
    assert a.tolist() == [51.0, 1.0] and b.tolist() == [51.0, 1.0]

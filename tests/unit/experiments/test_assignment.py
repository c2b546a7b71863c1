"""Sticky assignment: the hash, stability across processes, shares close to the weights, the global control."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from recsvc.errors import InvalidArgument
from recsvc.experiments.assignment import GlobalControl, arm_index, assign, check_weights, fnv1a32, unit_hash
from recsvc.experiments.definitions import Arm, Experiment

REPO = Path(__file__).resolve().parents[3]


def _experiment(weights: tuple[float, ...] = (0.2, 0.3, 0.5), salt: str = "") -> Experiment:
    arms = tuple(Arm(f"arm{i}", w) for i, w in enumerate(weights))
    return Experiment(id="exp-copy", decision="copy_variant", arms=arms, primary_metric="click_rate", salt=salt)


def test_fnv1a_32_reference_values() -> None:
    # The published FNV-1a 32-bit test vectors.
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


def test_assignment_is_the_same_in_another_process() -> None:
    exp = _experiment()
    ids = [f"user-{i}" for i in range(50)]
    here = [assign(exp, u).arm for u in ids]
    assert here == [assign(exp, u).arm for u in ids]
    code = (
        "from recsvc.experiments.assignment import assign\n"
        "from recsvc.experiments.definitions import Arm, Experiment\n"
        "arms = tuple(Arm(f'arm{i}', w) for i, w in enumerate((0.2, 0.3, 0.5)))\n"
        "exp = Experiment(id='exp-copy', decision='copy_variant', arms=arms, primary_metric='click_rate')\n"
        "print(','.join(str(assign(exp, f'user-{i}').arm) for i in range(50)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert out.stdout.strip().split(",") == here


def test_shares_are_close_to_the_weights_over_100k_users() -> None:
    exp = _experiment()
    counts = Counter(assign(exp, f"u{i}").arm for i in range(100_000))
    for arm in exp.arms:
        # The binomial standard deviation of a share is at most 0.0016 here: 0.006 is almost 4 of them.
        assert counts[arm.name] / 100_000 == pytest.approx(arm.weight, abs=0.006)


def test_a_new_salt_reshuffles_users() -> None:
    a, b = _experiment(), _experiment(salt="round-2")
    same = sum(assign(a, f"u{i}").arm == assign(b, f"u{i}").arm for i in range(10_000))
    # Independent draws agree with probability .2^2 + .3^2 + .5^2 = 0.38.
    assert same / 10_000 == pytest.approx(0.38, abs=0.03)


def test_global_control_is_checked_first_and_holds_its_share() -> None:
    control = GlobalControl(share=0.05, salt="gc")
    exp = _experiment()
    results = [assign(exp, f"u{i}", control) for i in range(100_000)]
    held = [r for r in results if r.global_control]
    assert len(held) / 100_000 == pytest.approx(0.05, abs=0.004)
    assert all(r.arm is None for r in held) and all(r.arm is not None for r in results if not r.global_control)
    # Its own salt: the held-out users are spread over the experiment's arms like everyone else.
    spread = Counter(assign(exp, f"u{i}").arm for i in range(100_000) if control.holds(f"u{i}"))
    assert spread["arm2"] / len(held) == pytest.approx(0.5, abs=0.04)


def test_segment_limits_who_is_assigned() -> None:
    exp = Experiment(
        id="e",
        decision="holdout",
        arms=(Arm("a", 0.5), Arm("b", 0.5)),
        primary_metric="open_rate",
        segment="stage=churning",
    )
    assert assign(exp, "u1", user={"stage": "loyal"}).arm is None
    assert assign(exp, "u1", user={"stage": "churning"}).arm in ("a", "b")


def test_arm_ranges_follow_cumulative_weights() -> None:
    weights = (0.25, 0.25, 0.5)
    assert [arm_index(p, weights) for p in (0.0, 0.2499, 0.25, 0.4999, 0.5, 0.9999)] == [0, 0, 1, 1, 2, 2]
    assert 0.0 <= unit_hash("seed", "user") < 1.0


@pytest.mark.parametrize(
    ("weights", "field"),
    [
        ((0.5, 0.4), "experiments[0].arms[1].weight"),
        ((0.5, 0.6), "experiments[0].arms[1].weight"),
        ((1.2, -0.2), "experiments[0].arms[1].weight"),
        ((0.0, 1.0), "experiments[0].arms[0].weight"),
        ((float("nan"), 1.0), "experiments[0].arms[0].weight"),
    ],
)
def test_bad_weights_name_the_field(weights: tuple[float, ...], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        check_weights(weights, "experiments[0].arms")
    assert err.value.field == field and field in str(err.value)


def test_weights_within_the_tolerance_pass() -> None:
    check_weights((1 / 3, 1 / 3, 1 / 3))
    check_weights((0.5, 0.5 + 5e-7))


def test_global_control_share_is_checked() -> None:
    with pytest.raises(InvalidArgument) as err:
        GlobalControl(share=1.0).validate()
    assert err.value.field == "global_control.share"

"""What an arm's name means for the decision its experiment varies, and which names are valid.

- ``copy_writer``: ``llm`` or ``template`` (the writer the copy must come from).
- ``copy_variant``: any names; the name is the copy's variant, which picks its wording.
- ``send_time_policy``: ``model`` (the send-time model's slot) or ``fixed_<hour>`` with a local hour
  0-23 or 1-12 with ``am``/``pm`` (``fixed_9``, ``fixed_9am``, ``fixed_21``, ``fixed_9pm``).
- ``recs_source``: ``model`` (the ranker) or ``popular`` (plain popularity, the same business rules).
- ``channel_policy``: ``model`` (the channel model) or a channel word (only that channel).
- ``holdout``: the arm named ``holdout`` gets no push; every other arm is pushed as usual.
"""

from __future__ import annotations

import re

from recsvc.errors import InvalidArgument
from recsvc.vocabulary import CHANNELS, HOLDOUT_ARM, OPTIMIZABLE_DECISIONS, RECS_POLICIES, WRITERS

MODEL_ARM = "model"
_FIXED = re.compile(r"fixed_(\d{1,2})(am|pm)?")


def fixed_hour(arm: str) -> int | None:
    """The local hour of a ``fixed_<hour>`` arm; None for any other name or an impossible hour."""
    m = _FIXED.fullmatch(arm)
    if m is None:
        return None
    hour, half = int(m.group(1)), m.group(2)
    if half is None:
        return hour if hour < 24 else None
    if not 1 <= hour <= 12:
        return None
    return hour % 12 + (12 if half == "pm" else 0)


def _allowed(decision: str) -> str | None:
    """What the arms of ``decision`` may be called, for the error; None: any name."""
    return {
        "copy_writer": " or ".join(WRITERS),
        "send_time_policy": "model or fixed_<hour> (fixed_9, fixed_9am, fixed_21)",
        "recs_source": " or ".join(RECS_POLICIES),
        "channel_policy": "model or one of " + ", ".join(CHANNELS),
    }.get(decision)


def arm_is_valid(decision: str, arm: str) -> bool:
    if decision == "copy_writer":
        return arm in WRITERS
    if decision == "send_time_policy":
        return arm == MODEL_ARM or fixed_hour(arm) is not None
    if decision == "recs_source":
        return arm in RECS_POLICIES
    if decision == "channel_policy":
        return arm == MODEL_ARM or arm in CHANNELS
    return True  # copy_variant and holdout arms may be called anything


def check_arms(decision: str, mode: str, arms: tuple[str, ...], where: str) -> None:
    """``InvalidArgument`` naming the first arm the decision cannot act on (``{where}.arms[i].name``),
    a holdout without its ``holdout`` arm, or a bandit on a decision it cannot make."""
    for i, arm in enumerate(arms):
        if not arm_is_valid(decision, arm):
            field = f"{where}.arms[{i}].name"
            raise InvalidArgument(f"{field} must be {_allowed(decision)} for {decision}, got {arm!r}", field=field)
    if decision == "holdout" and HOLDOUT_ARM not in arms:
        raise InvalidArgument(f"{where}.arms must include an arm named {HOLDOUT_ARM!r}", field=f"{where}.arms")
    if mode == "optimize" and decision not in OPTIMIZABLE_DECISIONS:
        raise InvalidArgument(
            f"{where}.mode optimize needs a decision made per send "
            f"({', '.join(OPTIMIZABLE_DECISIONS)}), got {decision}",
            field=f"{where}.mode",
        )

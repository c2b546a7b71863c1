"""Field checks for frozen dataclasses that validate themselves (settings sections, copy requests).

A ``validate()`` builds one :class:`FieldChecks` over its object, saying how errors are worded
(message prefix such as ``"copy."``, prefix of the reported field, whether and how the bad value is
shown), then checks the fields rule by rule, in order: the first bad field raises ``InvalidArgument``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from recsvc.errors import InvalidArgument


@dataclass(frozen=True)
class Rule:
    """What a field's value must satisfy: the test, and how an error says it."""

    says: str
    holds: Callable[[Any], bool]
    shows_value: bool = True


# Each test below is False for NaN, so these rules refuse it...
POSITIVE = Rule("must be > 0", lambda v: v > 0)
NON_NEGATIVE = Rule("must be >= 0", lambda v: v >= 0)
AT_LEAST_ONE = Rule("must be >= 1", lambda v: v >= 1)
FRACTION = Rule("must be in [0, 1]", lambda v: 0.0 <= v <= 1.0)
# ...but this one refuses only values below zero: the fields that accept NaN use it.
NOT_BELOW_ZERO = Rule("must be >= 0", lambda v: not v < 0)
NON_EMPTY = Rule("must not be empty", bool, shows_value=False)


def at_least(minimum: float) -> Rule:
    return Rule(f"must be >= {minimum}", lambda v: v >= minimum)


class FieldChecks:
    """Raises ``InvalidArgument`` for the first field of ``config`` that breaks a rule.

    Messages read ``f"{prefix}{name} {rule.says}, got {got(value)}"`` (no ``got`` part when ``got``
    is None or the rule hides values); the error's field is ``f"{field_prefix}{name}"``.
    """

    def __init__(
        self,
        config: object,
        *,
        prefix: str = "",
        field_prefix: str = "",
        got: Callable[[Any], str] | None = str,
    ) -> None:
        self._config = config
        self._prefix = prefix
        self._field_prefix = field_prefix
        self._got = got

    def each(self, rule: Rule, *names: str) -> None:
        """Check ``rule`` on each named field, in order."""
        for name in names:
            value = getattr(self._config, name)
            if not rule.holds(value):
                shown = f", got {self._got(value)}" if self._got is not None and rule.shows_value else ""
                self.fail(name, f"{rule.says}{shown}")

    def one_of(self, name: str, allowed: Sequence[str]) -> None:
        """The field's value must be one of ``allowed`` (the message lists them and shows the value)."""
        value = getattr(self._config, name)
        if value not in allowed:
            self.fail(name, f"must be one of {allowed}, got {value!r}")

    def require(self, ok: bool, name: str, says: str) -> None:
        """A check of its own: unless ``ok``, fail with ``says`` after the field's name."""
        if not ok:
            self.fail(name, says)

    def fail(self, name: str, says: str) -> NoReturn:
        raise InvalidArgument(f"{self._prefix}{name} {says}", field=f"{self._field_prefix}{name}")

"""Tunables of feedback effects and of the satisfaction survey: the TOML table ``[feedback]`` and
``RECSVC_FEEDBACK_*`` variables. How ``too_many`` lowers caps is in ``[frequency]`` (``too_many_days``,
``too_many_cap_factor``), beside the other cap penalties."""

from __future__ import annotations

from dataclasses import dataclass

from recsvc.config_checks import FRACTION, NON_EMPTY, NON_NEGATIVE, POSITIVE, FieldChecks


@dataclass(frozen=True)
class FeedbackConfig:
    """``validate()`` names the first bad field (``feedback.survey_share``)."""

    # not_relevant: the score of candidates in the rejected item's category is multiplied by this.
    not_relevant_days: float = 30.0
    not_relevant_penalty: float = 0.05
    # bad_time: the local hour the rejected push arrived, and ``bad_time_spread`` hours either side,
    # get their send propensity multiplied by ``bad_time_penalty``.
    bad_time_days: float = 30.0
    bad_time_penalty: float = 0.1
    bad_time_spread: int = 1
    # How long before a bad_time feedback a push of the item it names counts as "the rejected push".
    bad_time_lookback_hours: float = 48.0
    # Survey: the share of users (by hash of user id under the salt) it is proposed to, and its own cap.
    survey_share: float = 0.02
    survey_salt: str = "survey"
    survey_every_days: float = 90.0
    # Also offer the survey (as the last candidate) with scheduled pushes, not only for trigger "survey".
    survey_with_scheduled: bool = False

    def validate(self) -> None:
        c = FieldChecks(self, prefix="feedback.", field_prefix="feedback.")
        c.each(POSITIVE, "not_relevant_days", "bad_time_days", "survey_every_days", "bad_time_lookback_hours")
        c.each(FRACTION, "not_relevant_penalty", "bad_time_penalty", "survey_share")
        c.each(NON_NEGATIVE, "bad_time_spread")
        c.require(self.bad_time_spread <= 11, "bad_time_spread", f"must be <= 11 hours, got {self.bad_time_spread}")
        c.each(NON_EMPTY, "survey_salt")

"""Tunables of the send-time model, quiet hours and trigger deadlines, in one frozen dataclass.

Settings read it from the TOML table ``[timing]`` and ``RECSVC_TIMING_*`` variables.
"""

from __future__ import annotations

from dataclasses import dataclass

from recsvc.config_checks import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, FieldChecks
from recsvc.errors import InvalidArgument

# Push opens say most about when a user wants to hear from us, app opens and clicks next, then any
# activity. ``push_delivered`` is our own send time, not the user's, so it carries no weight.
DEFAULT_EVENT_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("push_opened", 4.0),
    ("push_clicked", 4.0),
    ("app_open", 2.0),
    ("sms_clicked", 2.0),
    ("email_opened", 2.0),
    ("email_clicked", 2.0),
    ("view", 1.0),
    ("search", 1.0),
    ("add_to_cart", 1.0),
    ("remove_from_cart", 1.0),
    ("purchase", 1.0),
    ("feedback", 1.0),
    ("geo_enter", 0.5),
    ("push_dismissed", 0.5),
    ("unsubscribe", 0.0),
    ("push_delivered", 0.0),
)


@dataclass(frozen=True)
class TimingConfig:
    """Send-time model, quiet hours and deadlines; ``validate()`` names the first bad field."""

    event_weights: tuple[tuple[str, float], ...] = DEFAULT_EVENT_WEIGHTS
    # An event more than this many minutes after the user's previous one continues a session; the
    # start of a session is what "the user shows up at hour h" means, so in-session events count less.
    session_gap_min: float = 60.0
    in_session_weight: float = 1.0
    # Older habits fade with this half-life (days); 0 disables recency weighting.
    half_life_days: float = 180.0
    # Circular smoothing: weight of each neighbouring hour relative to the hour itself.
    neighbour_weight: float = 0.5
    # Share of the hour-of-week curve taken from the user's weekday-pooled hour-of-day profile.
    weekday_pooling: float = 0.5
    # Search grid bounds for the Dirichlet prior strengths (estimated from the data).
    min_prior_strength: float = 0.1
    max_prior_strength: float = 1000.0
    # LightGBM over user x hour features, used only where it beats the shrunk curve on validation.
    use_lgbm: bool = True
    lgbm_min_gain: float = 0.005
    lgbm_rounds: int = 80
    lgbm_learning_rate: float = 0.05
    lgbm_num_leaves: int = 4
    lgbm_min_data_in_leaf: int = 200
    # Half-life (days) of the visit *rate* used by the first-arrival (hazard) forecast.
    rate_half_life_days: float = 30.0
    # The first-arrival forecast looks this far ahead; later mass follows the habit profile.
    arrival_horizon_days: float = 14.0
    # Labels of the learned next-visit model: "activity" = the first activity (any event the user
    # made, i.e. every type but push_delivered: the evaluation's rule) after each pseudo cut-off,
    # "any" = the first event of any type (incl. our own push deliveries), "engaged" = only events
    # with a positive weight.
    label_events: str = "activity"
    # The habit profile (recsvc.timing.dayprofile): tuned on this many weekly pseudo cut-offs, served
    # in place of the plain habit only when tuning beats it out of fold by this many standard errors.
    use_day_profile: bool = True
    day_profile_cutoffs: int = 12
    day_profile_step_days: float = 7.0
    min_validation_z: float = 1.0
    # The learned hour choice (recsvc.timing.hitscorer): trained on the habit profile's pseudo
    # cut-offs (at most this many examples), served only when it beats the tuned habit profile on
    # held-out users by this many standard errors.
    use_hit_scorer: bool = True
    hit_scorer_min_z: float = 2.0
    hit_scorer_min_examples: int = 2_000
    hit_scorer_max_examples: int = 60_000
    pseudo_cutoff_step_days: float = 7.0
    pseudo_cutoffs: int = 16
    # Pseudo cut-offs end at least this long before the cut-off, so their "first event after" labels
    # are not biased toward users who come back within days.
    min_label_window_days: float = 14.0
    validation_share: float = 0.3
    min_training_examples: int = 200
    seed: int = 7
    # Quiet hours (local clock) when the user gives none.
    default_quiet_hours: str = "22-8"
    # Trigger deadlines.
    cart_idle_hours: float = 4.0
    post_purchase_minutes: float = 30.0
    geo_enter_minutes: float = 10.0
    campaign_window_hours: float = 24.0
    # Horizon of a serving curve and what to do when every candidate slot is quiet:
    # "defer" = first allowed time after the window (flagged), "suppress" = no slot.
    curve_hours: int = 48
    on_all_quiet: str = "defer"

    def validate(self) -> TimingConfig:
        """Raise :class:`InvalidArgument` naming the first bad field; return self for chaining."""
        for name, w in self.event_weights:
            if not isinstance(name, str) or not name:
                raise InvalidArgument("event_weights: event type names must be non-empty", field="event_weights")
            if not w >= 0:
                raise InvalidArgument(f"event_weights: weight of {name!r} must be >= 0, got {w}", field="event_weights")
        c = FieldChecks(self)
        c.each(
            POSITIVE,
            "session_gap_min",
            "min_prior_strength",
            "max_prior_strength",
            "lgbm_learning_rate",
            "pseudo_cutoff_step_days",
            "day_profile_step_days",
            "min_label_window_days",
            "rate_half_life_days",
            "arrival_horizon_days",
            "cart_idle_hours",
            "post_purchase_minutes",
            "geo_enter_minutes",
            "campaign_window_hours",
        )
        c.each(FRACTION, "in_session_weight", "weekday_pooling", "validation_share")
        c.each(NON_NEGATIVE, "half_life_days", "min_validation_z", "hit_scorer_min_z")
        c.each(FRACTION, "neighbour_weight")
        c.require(
            self.min_prior_strength < self.max_prior_strength, "min_prior_strength", "must be < max_prior_strength"
        )
        c.each(
            AT_LEAST_ONE,
            "lgbm_rounds",
            "lgbm_num_leaves",
            "lgbm_min_data_in_leaf",
            "pseudo_cutoffs",
            "curve_hours",
            "day_profile_cutoffs",
            "hit_scorer_min_examples",
            "hit_scorer_max_examples",
        )
        c.require(self.lgbm_num_leaves >= 2, "lgbm_num_leaves", "must be >= 2")
        c.require(self.min_training_examples >= 0, "min_training_examples", "must be >= 0")
        c.require(
            self.label_events in ("activity", "any", "engaged"),
            "label_events",
            f"must be 'activity', 'any' or 'engaged', got {self.label_events!r}",
        )
        c.require(
            self.on_all_quiet in ("defer", "suppress"),
            "on_all_quiet",
            f"must be 'defer' or 'suppress', got {self.on_all_quiet!r}",
        )
        from recsvc.timing.clock import QuietHours  # local import: clock imports this module

        QuietHours.parse(self.default_quiet_hours, field="default_quiet_hours")
        return self

    def weight_of(self) -> dict[str, float]:
        """Event weights as a dict (the tuple form keeps the dataclass hashable)."""
        return dict(self.event_weights)

"""Tunables of lifecycle training and scoring: the ``[lifecycle]`` section of the service settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from recsvc.config_checks import POSITIVE, FieldChecks, Rule
from recsvc.lifecycle.stages import StageRules

_SHARE = Rule("must be in (0, 1]", lambda v: 0 < v <= 1, shows_value=False)


@dataclass(frozen=True)
class LifecycleConfig:
    """Tunables of lifecycle training and scoring (defaults are data-set agnostic)."""

    horizon_days: int = 30
    step_days: int = 0  # spacing of training cut-offs; 0 = H/4 clamped to [7, 30] days
    max_cutoffs: int = 8
    min_full_cutoffs: int = 2  # below this, add shorter-horizon cut-offs ending at the training cut-off
    min_label_fraction: float = 0.25  # shortest label horizon allowed, as a fraction of H
    min_history_days: int = 28  # a cut-off needs this much log before it
    max_train_rows: int = 500_000  # stacked rows over all cut-offs; users are sampled per cut-off
    max_bin: int = 63
    num_leaves: int = 15
    learning_rate: float = 0.05
    max_rounds: int = 400
    churn_num_leaves: int = 4  # the churn trees only correct the logistic base (small logs; large ones use large_*)
    churn_max_rounds: int = 0  # 0 = 2.5 x max_rounds: trees of 4 leaves are cheap and need more rounds
    early_stopping_rounds: int = 40
    min_data_in_leaf: int = 0  # 0 = automatic: 0.1% of the training rows, clamped to [20, 500]
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    num_threads: int = 1  # 1 is robust on busy hosts (OpenMP spin-waits collapse under contention); 0 = all cores
    # Large data (at least large_rows stacked training rows, e.g. the 500,000-row cap on a million users):
    # fewer, larger trees at a higher learning rate. Training stays within minutes and batch scoring
    # walks a few hundred trees instead of a few thousand; small logs keep the settings above.
    large_rows: int = 250_000
    large_learning_rate: float = 0.2
    large_num_leaves: int = 63
    large_max_rounds: int = 160  # the stage model needs ~160 rounds at lr 0.2 to match the small-data F1
    compiled_scoring: bool = True  # score big batches with lleaves-compiled trees when installed (else LightGBM)
    compiled_min_rows: int = 200_000  # smaller batches use LightGBM: compiling costs seconds per model
    refit_full: bool = True  # after early stopping, refit on every cut-off incl. the validation one
    seed: int = 0
    reasons_top_k: int = 3
    rules: StageRules = field(default_factory=StageRules)

    def validate(self) -> None:
        c = FieldChecks(self, prefix="lifecycle.")
        c.each(
            POSITIVE,
            "horizon_days",
            "max_cutoffs",
            "min_history_days",
            "max_train_rows",
            "max_bin",
            "num_leaves",
            "learning_rate",
            "max_rounds",
            "churn_num_leaves",
            "early_stopping_rounds",
            "reasons_top_k",
            "large_rows",
            "large_learning_rate",
            "large_num_leaves",
            "large_max_rounds",
        )
        c.require(self.churn_max_rounds >= 0, "churn_max_rounds", "must be >= 0 (0 = automatic)")
        c.require(self.step_days >= 0, "step_days", "must be >= 0 (0 = automatic)")
        c.require(self.min_full_cutoffs >= 0, "min_full_cutoffs", "must be >= 0")
        c.each(_SHARE, "min_label_fraction", "feature_fraction", "bagging_fraction")
        c.require(self.min_data_in_leaf >= 0, "min_data_in_leaf", "must be >= 0 (0 = automatic)")
        c.require(self.compiled_min_rows >= 0, "compiled_min_rows", "must be >= 0")
        c.require(not (self.lambda_l2 < 0 or self.num_threads < 0), "lambda_l2", "and num_threads must be >= 0")
        self.rules.validate()

"""Lifecycle stage and churn risk per user (issue 3).

Public API: :func:`compute_features` (point-in-time features), :func:`rule_stages` and :class:`Stage`
(marketer-readable rules), :func:`train_lifecycle` / :class:`LifecycleModel` / :func:`latest`
(LightGBM churn + next-stage models), :class:`LifecycleConfig` (tunables), BG/NBD in :mod:`.bgnbd`.
"""

from recsvc.lifecycle.bgnbd import BGNBDParams, fit_bgnbd
from recsvc.lifecycle.features import FEATURE_NAMES, compute_features, fit_window_bgnbd
from recsvc.lifecycle.model import LifecycleConfig, LifecycleModel, UserScore, latest, train_lifecycle
from recsvc.lifecycle.reasons import Reason
from recsvc.lifecycle.stages import Stage, StageRules, rule_stages

__all__ = [
    "FEATURE_NAMES",
    "BGNBDParams",
    "LifecycleConfig",
    "LifecycleModel",
    "Reason",
    "Stage",
    "StageRules",
    "UserScore",
    "compute_features",
    "fit_bgnbd",
    "fit_window_bgnbd",
    "latest",
    "rule_stages",
    "train_lifecycle",
]

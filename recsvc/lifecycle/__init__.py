"""Lifecycle stage and churn risk per user.

Public API: :func:`compute_features` (point-in-time features), :func:`rule_stages` and :class:`Stage`
(marketer-readable rules), :class:`EventLog` (a log encoded once for repeated feature passes),
:func:`train_lifecycle` (:mod:`.train`) / :class:`LifecycleModel` / :func:`latest` (LightGBM churn +
next-stage models, compiled batch scoring in :mod:`.compiled`), :class:`LifecycleConfig` (tunables, in
:mod:`.config`), BG/NBD in :mod:`.bgnbd`, Pareto/NBD in :mod:`.paretonbd`.
"""

from recsvc.lifecycle.bgnbd import BGNBDParams, fit_bgnbd
from recsvc.lifecycle.config import LifecycleConfig
from recsvc.lifecycle.eventlog import EventLog
from recsvc.lifecycle.features import FEATURE_NAMES, compute_features, fit_window_bgnbd
from recsvc.lifecycle.model import LifecycleModel, UserScore, latest
from recsvc.lifecycle.paretonbd import ParetoNBDParams, fit_paretonbd
from recsvc.lifecycle.reasons import Reason
from recsvc.lifecycle.stages import StageRules, rule_stages
from recsvc.lifecycle.train import train_lifecycle
from recsvc.vocabulary import Stage

__all__ = [
    "FEATURE_NAMES",
    "BGNBDParams",
    "EventLog",
    "LifecycleConfig",
    "LifecycleModel",
    "ParetoNBDParams",
    "Reason",
    "Stage",
    "StageRules",
    "UserScore",
    "compute_features",
    "fit_bgnbd",
    "fit_paretonbd",
    "fit_window_bgnbd",
    "latest",
    "rule_stages",
    "train_lifecycle",
]

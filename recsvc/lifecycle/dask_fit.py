"""One lifecycle LightGBM model fitted on a Dask cluster with ``lightgbm.dask`` (``recsvc train --dask``).

Only the boosting runs on the cluster. The stacked feature matrix is still built on the driver
(pandas, :mod:`.features`); its training rows are split into one block per worker, each block is
scattered to its worker, and LightGBM's data-parallel learner trains on the blocks together. What
comes back is a plain :class:`lightgbm.Booster`, saved exactly like a single-machine one.

Early stopping: ``lightgbm.dask`` has none that works. Each worker evaluates the validation set on
its own slice only, so the workers disagree on when to stop, and the ones still training hang on
the one that stopped (LightGBM issues #6351, #6963, #7009); ``evals_result_`` is one worker's
partial curve for the same reason. So the cluster trains every round, and the best round is chosen
afterwards on the driver, which holds the whole validation set: the validation loss is computed per
round from the booster, and the round kept is the one ``lgb.early_stopping`` would keep on that curve.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
from scipy import special

logger = logging.getLogger(__name__)

# LightGBM's clip for probabilities in its log-loss metrics (kEpsilon in metric code).
_EPS = 1e-15
_CELLS = 4_000_000  # (row, tree) cells per pred_leaf call in validation_curve


def cluster_name(client: Any) -> str:
    """``local:N`` for a LocalCluster this process started, else the scheduler's address."""
    from distributed import LocalCluster

    cluster = getattr(client, "cluster", None)
    if isinstance(cluster, LocalCluster):
        return f"local:{len(cluster.workers)}"
    return str(client.scheduler.address)


def fit_on_dask(
    client: Any,
    params: Mapping[str, object],
    X: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    vrows: np.ndarray | None,
    rounds: int,
    init: np.ndarray | None,
    *,
    feature_names: list[str],
    early_stopping_rounds: int,
    seed: int,
) -> lgb.Booster:
    """Fit ``rounds`` rounds on ``rows`` of ``X`` over the cluster's workers; with ``vrows``, set the
    booster's ``best_iteration`` as early stopping on those rows would have."""
    from lightgbm.dask import DaskLGBMRegressor

    # The Dask interface sets each worker's threads itself and warns about a num_threads.
    kwargs: dict[str, Any] = {k: v for k, v in params.items() if k != "num_threads"}
    # The regressor passes labels and the objective to lgb.train unchanged; the classifier would
    # renumber the stage classes present in the training rows (a class absent there shifts the others).
    model = DaskLGBMRegressor(client=client, n_estimators=rounds, **kwargs)
    blocks = _worker_blocks(client, int(rows.sum()), seed)
    held: list[Any] = []  # the scattered blocks' futures: the graph names their keys but does not keep them alive
    try:
        with client.as_current():
            Xd = _scatter(client, X[rows], blocks, held)
            yd = _scatter(client, np.asarray(y[rows], dtype=np.float64), blocks, held)
            init_d = None if init is None else _scatter(client, np.asarray(init[rows], dtype=np.float64), blocks, held)
            with warnings.catch_warnings():
                # The estimator's own n_jobs default: the Dask interface uses each worker's threads instead.
                warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
                model.fit(Xd, yd, init_score=init_d, feature_name=feature_names)
    finally:
        client.cancel(held)  # free the workers' copies now, not when the futures are collected
    booster: lgb.Booster = model.booster_
    if vrows is not None:
        v_init = None if init is None else init[vrows]
        curve = validation_curve(booster, X[vrows], y[vrows], v_init, str(params["objective"]))
        booster.best_iteration = best_round(curve, early_stopping_rounds)
        logger.info(
            "dask %s: best round %d of %d (validation loss %.5f)",
            params["objective"],
            booster.best_iteration,
            rounds,
            curve[booster.best_iteration - 1],
        )
    return booster


def _worker_blocks(client: Any, n_rows: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """(worker address, row positions) per worker: a seeded shuffle cut into equal blocks, so every
    worker sees every cut-off (its bins and bagging samples look like the whole)."""
    workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        from recsvc.errors import Unavailable

        raise Unavailable("the Dask cluster has no workers", field="dask")
    order = np.random.default_rng(seed).permutation(n_rows)
    parts = np.array_split(order, min(len(workers), max(1, n_rows)))
    return [(w, np.sort(p)) for w, p in zip(workers, parts, strict=False) if len(p)]


def _scatter(client: Any, a: np.ndarray, blocks: list[tuple[str, np.ndarray]], held: list[Any]) -> Any:
    """A dask array whose i-th chunk lives on the i-th block's worker (its futures appended to ``held``)."""
    import dask.array as da

    chunks = []
    for worker, pos in blocks:
        part = np.ascontiguousarray(a[pos])
        # hash=False: a fresh key, never the (content-hashed) key of a block an earlier fit cancelled.
        future = client.scatter(part, workers=[worker], hash=False)
        held.append(future)
        chunks.append(da.from_delayed(future, shape=part.shape, dtype=part.dtype))
    return da.concatenate(chunks)


def validation_curve(
    booster: lgb.Booster, X: np.ndarray, y: np.ndarray, init: np.ndarray | None, objective: str, block: int = 50
) -> np.ndarray:
    """The objective's default LightGBM metric (binary or multi log-loss) after each round.

    Each row's leaf in ``block`` rounds' trees comes from one ``pred_leaf`` call and its value from a
    table, so the running raw score costs a lookup per tree (one predict call per round took 11 s for
    1,000 rounds on 18,000 rows)."""
    n_class = booster.num_model_per_iteration()
    values = _leaf_values(booster)
    raw = np.zeros((len(X), n_class)) if init is None else np.asarray(init, dtype=np.float64).reshape(len(X), -1)
    labels = np.asarray(y).astype(np.int64)
    n_iter = booster.current_iteration()
    # Fewer rounds per call on a big validation set: the leaf and step arrays stay near 32 MB each.
    block = max(1, min(block, _CELLS // max(1, len(X) * n_class)))
    out = np.empty(n_iter)
    for start in range(0, n_iter, block):
        k = min(block, n_iter - start)
        leaves = np.asarray(booster.predict(X, start_iteration=start, num_iteration=k, pred_leaf=True), dtype=np.int64)
        trees = np.arange(start * n_class, (start + k) * n_class)
        steps = values[trees, leaves.reshape(len(X), k * n_class)].reshape(len(X), k, n_class)
        for j in range(k):
            raw = raw + steps[:, j, :]
            out[start + j] = _logloss(raw, labels, objective)
    return out


def _leaf_values(booster: lgb.Booster) -> np.ndarray:
    """(trees, most leaves) table of every tree's leaf outputs."""
    sizes = [int(t["num_leaves"]) for t in booster.dump_model()["tree_info"]]
    table = np.zeros((len(sizes), max(sizes, default=1)))
    for tree, n in enumerate(sizes):
        for leaf in range(n):
            table[tree, leaf] = booster.get_leaf_output(tree, leaf)
    return table


def _logloss(raw: np.ndarray, labels: np.ndarray, objective: str) -> float:
    if objective == "binary":
        p = np.clip(special.expit(raw[:, 0]), _EPS, 1 - _EPS)
        return float(-np.mean(np.where(labels == 1, np.log(p), np.log(1 - p))))
    p = special.softmax(raw, axis=1)[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.maximum(p, _EPS))))


def best_round(curve: np.ndarray, patience: int) -> int:
    """The 1-based round ``lgb.early_stopping(patience)`` keeps: the first minimum, looking no further
    than ``patience`` rounds past it."""
    best_i, best = 0, float("inf")
    for i, v in enumerate(curve):
        if v < best:
            best_i, best = i, float(v)
        elif i - best_i >= patience:
            break
    return best_i + 1

"""``recsvc train --dask``: the lifecycle models fitted with lightgbm.dask on a real LocalCluster."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from lifecycle_synth import CFG, CUT
from scipy import special
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from recsvc.batch.cluster import DaskSpec, dask_client
from recsvc.cli import main
from recsvc.lifecycle.dask_fit import best_round, cluster_name, validation_curve
from recsvc.lifecycle.model import LifecycleModel
from recsvc.lifecycle.train import train_lifecycle


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with dask_client(DaskSpec(workers=2)) as c:
        yield c


@pytest.fixture(scope="module")
def trained_dask(synth_events: pd.DataFrame, client: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dask-models") / "lifecycle"
    return train_lifecycle(
        synth_events, out_dir=root, horizon_days=30, cutoff=CUT, config=CFG, progress=False, client=client
    )


def _scores(vdir: Path, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    model = LifecycleModel.load(vdir, compiled=False)
    feats = model.features(events[events["ts"] < CUT], CUT)
    churn, probs, _ = model.score_arrays(feats)
    return churn, probs


def test_dask_model_predicts_like_the_single_machine_one(
    synth_events: pd.DataFrame, trained: Path, trained_dask: Path
) -> None:
    single_churn, single_stage = _scores(trained, synth_events)
    dask_churn, dask_stage = _scores(trained_dask, synth_events)
    # Data-parallel trees on two workers' halves are not the same trees (bins, bagging), but close.
    rho = spearmanr(single_churn, dask_churn).statistic
    assert rho > 0.9, rho
    assert np.mean(single_stage.argmax(1) == dask_stage.argmax(1)) > 0.85
    # Both rank the users who really go quiet in the 30 days after the cut-off about as well.
    before = synth_events[synth_events["ts"] < CUT]
    window = synth_events[(synth_events["ts"] >= CUT) & (synth_events["ts"] < CUT + pd.Timedelta(days=30))]
    users = LifecycleModel.load(trained, compiled=False).features(before, CUT).index
    churned = ~users.isin(window.loc[window["event_type"] != "push_delivered", "user_id"].unique())
    auc_single, auc_dask = roc_auc_score(churned, single_churn), roc_auc_score(churned, dask_churn)
    assert abs(auc_single - auc_dask) < 0.03, (auc_single, auc_dask)
    assert auc_dask > 0.65


def test_dask_metadata_names_the_cluster(trained: Path, trained_dask: Path) -> None:
    meta = json.loads((trained_dask / "metadata.json").read_text())
    assert meta["trained_on"] == "dask:local:2"
    assert json.loads((trained / "metadata.json").read_text())["trained_on"] == "single"
    assert {"dask", "distributed"} <= set(meta["library_versions"])
    churn, stage = meta["metrics"]["churn"], meta["metrics"]["stage"]
    # The best round was chosen on the validation cut-off, as early stopping would have.
    assert 1 <= churn["best_iteration"] <= int(2.5 * CFG.max_rounds)
    assert 1 <= stage["best_iteration"] <= CFG.max_rounds
    assert (trained_dask / "churn.txt").read_text().startswith("tree")  # a plain LightGBM model text


def test_best_round_is_what_early_stopping_keeps() -> None:
    curve = np.array([0.9, 0.8, 0.7, 0.75, 0.72, 0.71, 0.65, 0.7, 0.7, 0.7, 0.66, 0.6])
    assert best_round(curve, patience=3) == 3  # stopped 3 rounds after 0.7 without a better one
    assert best_round(curve, patience=4) == 7  # 0.65 is better; stopped 4 rounds after it, before 0.6
    assert best_round(curve, patience=5) == 12  # still looking when 0.6 comes
    assert best_round(np.array([0.5, 0.5, 0.5]), patience=1) == 1  # ties are not improvements


@pytest.mark.parametrize("value", ["foo", "local:0", "tcp://x"])
def test_a_bad_dask_value_is_one_line_and_exit_2(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["train", "-q", "--only", "lifecycle", "--dask", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dask" in err[0] and "Traceback" not in err[0]


def test_dask_without_lifecycle_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "-q", "--only", "recs", "--dask", "local:1"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "lifecycle" in err[0]


@pytest.mark.parametrize("objective", ["binary", "multiclass"])
def test_validation_curve_is_the_loss_of_each_round(objective: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.random((600, 4)).astype(np.float32)
    y = (X[:, 0] * 3).astype(int) if objective == "multiclass" else (X[:, 0] + 0.3 * rng.random(600) > 0.6).astype(int)
    init = rng.normal(size=600) if objective == "binary" else None
    params: dict[str, Any] = {"objective": objective, "num_leaves": 5, "verbosity": -1, "num_threads": 1}
    if objective == "multiclass":
        params["num_class"] = 3
    booster = lgb.train(params, lgb.Dataset(X, label=y, init_score=init), num_boost_round=23)
    curve = validation_curve(booster, X, y, init, objective, block=10)
    assert len(curve) == 23
    for rounds in (1, 10, 11, 23):
        raw = np.asarray(booster.predict(X, num_iteration=rounds, raw_score=True)).reshape(600, -1)
        p = special.expit(raw[:, 0] + init) if init is not None else special.softmax(raw, axis=1)
        loss = (
            -np.mean(np.log(np.where(y == 1, p, 1 - p))) if init is not None else -np.mean(np.log(p[np.arange(600), y]))
        )
        assert curve[rounds - 1] == pytest.approx(loss, rel=1e-9)


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    events = tmp_path / "missing-events.csv"  # never read: the cluster is reached first
    assert main(["train", "-q", "--only", "lifecycle", "--events", str(events), "--dask", address]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert address in err[0] and "cannot reach" in err[0]


def test_cluster_names(client: Any) -> None:
    from distributed import Client

    assert cluster_name(client) == "local:2"
    address = client.scheduler.address
    with Client(address, set_as_default=False) as by_address:  # as for --dask tcp://HOST:PORT
        assert cluster_name(by_address) == address and address.startswith("tcp://")

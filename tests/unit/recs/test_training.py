from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from recsvc.recs.embeddings import SentenceTransformerEncoder
from recsvc.recs.ranker import FEATURE_NAMES
from recsvc.recs.training import train_recs
from tests.unit.recs.conftest import CFG, CUTOFF


def test_artifact_and_metadata(model_dir: Path) -> None:
    for name in (
        "embeddings.npy",
        "index.faiss",
        "items.parquet",
        "stats_cooc_nbr.npy",
        "stats_als_factors.npy",
        "stats_als_yty.npy",
        "popularity_top.parquet",
        "ranker.txt",
        "metadata.json",
    ):
        assert (model_dir / name).exists(), name
    meta = json.loads((model_dir / "metadata.json").read_text())
    assert meta["format"] == 3 and meta["feature_names"] == list(FEATURE_NAMES)
    assert meta["encoder"]["dim"] == 384 and meta["index"]["recall_at_10"] == 1.0
    assert meta["ranker"]["trained"] and meta["ranker"]["groups"] > 20
    assert "lightgbm" in meta["libraries"] and meta["training_window"]["end"].startswith("2026-03-17")
    assert len(model_dir.name) == 16 and model_dir.name.endswith("Z")


def test_the_held_out_window_is_judged_by_boosters_that_never_saw_its_labels(model_dir: Path) -> None:
    ranker = json.loads((model_dir / "metadata.json").read_text())["ranker"]
    windows = ranker["training_windows"]
    assert len(windows) >= 3  # the held-out window, the one that overlaps it, and one to train on
    # windows step back by half a label window: the second one's labels cover half of the first's
    assert ranker["valid_groups"] == windows[0]["groups"]
    assert ranker["purged_groups"] == windows[1]["groups"]
    assert ranker["groups"] == sum(w["groups"] for w in windows)


def test_a_small_log_adds_an_older_window_for_the_held_out_fits(
    model_dir: Path, log: pd.DataFrame, catalog: pd.DataFrame, encoder: SentenceTransformerEncoder, tmp_path: Path
) -> None:
    ranker = json.loads((model_dir / "metadata.json").read_text())["ranker"]
    windows = ranker["training_windows"]
    # 80 users: far fewer groups than recs.ranker_average_below_groups, and the log reaches back far
    # enough, so the default three windows became four, and the held-out fits train on two of them
    assert CFG.train_windows == 3 and len(windows) == 4
    held_out_fit_groups = ranker["groups"] - ranker["valid_groups"] - ranker["purged_groups"]
    assert held_out_fit_groups == windows[2]["groups"] + windows[3]["groups"]

    for cfg in (replace(CFG, small_log_extra_windows=0), replace(CFG, ranker_average_below_groups=0)):
        out = train_recs(log, catalog, out_dir=tmp_path / str(id(cfg)), encoder=encoder, config=cfg, cutoff=CUTOFF,
                         progress=False)  # fmt: skip
        assert len(json.loads((out / "metadata.json").read_text())["ranker"]["training_windows"]) == 3

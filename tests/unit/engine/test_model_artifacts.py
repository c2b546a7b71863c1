"""Damaged model files never kill the process: each model serves its newest good version.

The loading that would crash on today's damaged files runs in a child process (``python -c``),
so a crash fails the test instead of killing pytest.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from artifact_helpers import HashEncoder, add_version, copy_models, encoder_dim, garble, good_version, truncate

from recsvc.engine.engine import Engine
from recsvc.engine.models import MODEL_NAMES
from recsvc.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[3]
NEW = "99990101T000000Z"  # sorts after any real version name, so it is the newest
NEWER = "99991231T000000Z"

# One file of each kind per model: LightGBM texts, JSON, FAISS index, .npy arrays, Parquet.
FILES = {
    "lifecycle": ("churn.txt", "stage.txt", "bgnbd.json", "calibration.json"),
    "recs": ("index.faiss", "embeddings.npy", "index_vectors.npy", "stats_pop.npy", "ranker.txt", "items.parquet"),
    "sendtime": ("counts.npy", "habit_hour.npy", "seg_week.npy", "users.json"),
}
DAMAGES: tuple[Callable[[Path], None], ...] = (truncate, garble)

_LOADER = """
import json, sys
from recsvc.engine.models import load_model_set
from recsvc.settings import load_settings

class Encoder:
    name = "stub"
    def __init__(self, dim): self.dim = dim
    def encode(self, texts, *, batch_size=64, progress=False): raise AssertionError("not called")

for d in sys.argv[2:]:
    settings = load_settings(env={}).with_overrides(paths={"models_dir": d})
    try:
        out = load_model_set(settings, Encoder(int(sys.argv[1]))).versions
    except Exception as exc:
        out = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps({"dir": d, "versions": out}), flush=True)
"""


def load_in_child(dirs: list[Path], dim: int) -> dict[str, dict[str, str]]:
    """``load_model_set`` on each models dir in one child process: {dir: versions chosen}."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    res = subprocess.run(
        [sys.executable, "-c", _LOADER, str(dim), *map(str, dirs)],
        capture_output=True,
        timeout=600,
        cwd=REPO,
        env=env,
    )
    out, err = (res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace"))  # LightGBM echoes bytes
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    done = [x["dir"] for x in lines]
    assert res.returncode == 0, f"the loader died (exit {res.returncode}) after {done[-1:]}: {err[-1500:]}"
    return {x["dir"]: x["versions"] for x in lines}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_damaged_new_version_falls_back_to_the_older_good_one(name: str, trained_models: Path, tmp_path: Path) -> None:
    cases: dict[str, str] = {}
    good: dict[str, str] = {}
    for fname in FILES[name]:
        assert (good_version(trained_models, name) / fname).is_file(), f"the trained {name} has no {fname}"
        for damage in DAMAGES:
            dest = tmp_path / f"{fname}-{damage.__name__}"
            good = copy_models(trained_models, dest)
            damage(add_version(trained_models, dest, name, NEW) / fname)
            cases[str(dest)] = f"{damage.__name__} {fname}"
    chosen = load_in_child([Path(d) for d in cases], encoder_dim(trained_models))
    assert set(chosen) == set(cases)
    wrong = {cases[d]: v for d, v in chosen.items() if v != good}
    assert not wrong, f"expected the older good versions {good}, got {wrong}"


def test_versions_without_checksums_still_load_after_a_safe_check(trained_models: Path, tmp_path: Path) -> None:
    """A version whose metadata lists no checksums loads; a damaged one of that kind is refused without a crash."""
    dest = tmp_path / "models"
    copy_models(trained_models, dest)
    for name in MODEL_NAMES:
        add_version(trained_models, dest, name, NEW, legacy=True)
    truncate(add_version(trained_models, dest, "lifecycle", NEWER, legacy=True) / "churn.txt")
    truncate(add_version(trained_models, dest, "recs", NEWER, legacy=True) / "index.faiss")
    truncate(add_version(trained_models, dest, "sendtime", NEWER, legacy=True) / "counts.npy")
    chosen = load_in_child([dest], encoder_dim(trained_models))
    assert chosen[str(dest)] == dict.fromkeys(MODEL_NAMES, NEW)


def test_training_writes_checksums_of_every_file(trained_models: Path) -> None:
    for name in MODEL_NAMES:
        vdir = good_version(trained_models, name)
        files = json.loads((vdir / "metadata.json").read_text())["files"]
        on_disk = {p.relative_to(vdir).as_posix() for p in vdir.rglob("*") if p.is_file()} - {"metadata.json"}
        assert set(files) == on_disk
        assert all(files[f]["size"] == (vdir / f).stat().st_size and len(files[f]["sha256"]) == 64 for f in files)


def _settings(tmp_path: Path, models: Path) -> Settings:
    return load_settings(env={}).with_overrides(
        paths={"store": str(tmp_path / "recsvc.db"), "models_dir": str(models)},
        copy={"base_url": "http://127.0.0.1:9/v1", "timeout_s": 0.5, "max_retries": 0},
    )


def test_hot_reload_keeps_serving_and_refuses_a_bad_version_once(
    trained_models: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    models = tmp_path / "models"
    good = copy_models(trained_models, models)
    engine = Engine(_settings(tmp_path, models), encoder=HashEncoder(encoder_dim(trained_models)))
    try:
        engine.load_models()
        assert {k: engine.versions()[k] for k in MODEL_NAMES} == good
        bad = add_version(trained_models, models, "recs", NEW)
        truncate(bad / "embeddings.npy")  # never read at load time, so only verification notices it
        with caplog.at_level(logging.ERROR):
            for _ in range(3):  # three reload intervals
                assert engine.reload_if_newer() is False
        assert engine.versions()["recs"] == good["recs"]
        refusals = [r for r in caplog.records if r.levelno >= logging.ERROR and NEW in r.getMessage()]
        assert len(refusals) == 1 and "embeddings.npy" in refusals[0].getMessage()
        assert engine.metrics()[0]["model_versions_refused"] == 1
        # repaired in place: its content changed, so it is tried again
        (bad / "embeddings.npy").write_bytes((good_version(trained_models, "recs") / "embeddings.npy").read_bytes())
        assert engine.reload_if_newer() is True and engine.versions()["recs"] == NEW
        add_version(trained_models, models, "recs", NEWER)
        assert engine.reload_if_newer() is True
        assert engine.versions()["recs"] == NEWER and engine.versions()["lifecycle"] == good["lifecycle"]
        assert engine.metrics()[0]["model_versions_refused"] == 1
    finally:
        engine.close()

"""The model on disk: a round trip keeps its predictions; a wrong format or missing directory is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsvc.errors import FailedPrecondition
from recsvc.timing.sendtime import SendTimeModel


def test_save_load_roundtrip_and_refusals(fitted: tuple[SendTimeModel, dict[str, int]], tmp_path: Path) -> None:
    model, habit = fitted
    d = model.save(tmp_path / "sendtime" / "v1")
    again = SendTimeModel.load(d)
    ids = list(habit)
    np.testing.assert_allclose(again.hour_distribution(ids), model.hour_distribution(ids), atol=1e-6)
    assert (d / "habit_hour.npy").is_file()
    np.testing.assert_allclose(again.predict_hours(ids), model.predict_hours(ids))
    meta = (d / "metadata.json").read_text()
    assert '"format": 3' in meta
    (d / "metadata.json").write_text(meta.replace('"format": 3', '"format": 99'))
    with pytest.raises(FailedPrecondition) as err:
        SendTimeModel.load(d)
    assert "metadata.json" in str(err.value)
    (d / "metadata.json").write_text(meta.replace('"format": 3', '"format": 2'))
    with pytest.raises(FailedPrecondition, match="retrain"):
        SendTimeModel.load(d)
    with pytest.raises(FailedPrecondition):
        SendTimeModel.load(tmp_path / "missing")


def test_save_version_writes_a_timestamped_loadable_dir(
    fitted: tuple[SendTimeModel, dict[str, int]], tmp_path: Path
) -> None:
    model, habit = fitted
    a = model.save_version(tmp_path / "sendtime")
    b = model.save_version(tmp_path / "sendtime")
    assert a.parent == b.parent == tmp_path / "sendtime" and a != b
    assert len(a.name) >= 16 and a.name[8] == "T" and a.name[15] == "Z"
    again = SendTimeModel.load(a)
    assert again.metadata["version"] in (a.name, b.name)
    np.testing.assert_allclose(again.hour_distribution(list(habit)), model.hour_distribution(list(habit)), atol=1e-6)

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from recsvc.recs.embeddings import (
    SentenceTransformerEncoder,
    default_model_path,
    dim_from_files,
    item_text,
    l2_normalize,
)


def test_default_model_path_is_local_folder() -> None:
    p = Path(default_model_path())
    assert (p / "config.json").exists()


def test_encode_shapes_and_norms(encoder: SentenceTransformerEncoder) -> None:
    v = encoder.encode(["running shoes", "espresso beans", "trail running sneakers"])
    assert v.shape == (3, encoder.dim) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    # semantics: the two running items are closer to each other than to coffee
    assert v[0] @ v[2] > v[0] @ v[1]
    assert encoder.encode([]).shape == (0, encoder.dim)


def test_item_text_uses_all_fields() -> None:
    row = pd.Series(
        {
            "title": "Moka pot",
            "category": "coffee",
            "description": "Stovetop brewer",
            "tags": "a|b",
            "price": 3.0,
        }
    )
    text = item_text(row)
    assert text.startswith("Moka pot") and "coffee" in text and "Stovetop" in text and "a, b" in text
    assert item_text({"title": "X", "category": None, "description": float("nan")}) == "X"


def test_l2_normalize_keeps_zero_rows() -> None:
    out = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_lazy_encoder_reads_its_width_from_the_files(encoder: SentenceTransformerEncoder) -> None:
    lazy = SentenceTransformerEncoder(lazy=True)
    assert lazy.dim == encoder.dim == 384
    assert lazy._model is None  # no torch import for the width
    assert np.allclose(lazy.encode(["espresso beans"]), encoder.encode(["espresso beans"]), atol=1e-6)


def test_width_from_files_only_for_a_plain_pooling_model(tmp_path: Path) -> None:
    assert dim_from_files(str(tmp_path / "missing")) is None
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (tmp_path / "1_Pooling").mkdir()
    pooling = {"word_embedding_dimension": 8, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    assert dim_from_files(str(tmp_path)) == 8
    # two pooling modes are concatenated, and a Dense layer changes the width: only loading tells
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({**pooling, "pooling_mode_max_tokens": True}))
    assert dim_from_files(str(tmp_path)) is None
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    dense = {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    (tmp_path / "modules.json").write_text(json.dumps([*modules, dense]))
    assert dim_from_files(str(tmp_path)) is None

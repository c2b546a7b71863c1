from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsvc.recs.embeddings import SentenceTransformerEncoder, default_model_path, item_text, l2_normalize


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

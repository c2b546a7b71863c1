"""Several LightGBM boosters as one: the mean of their scores from a single model file.

Averaging boosters that differ only in their seed removes the noise of one bagging draw. Kept as
one booster (every tree of every member, each leaf divided by the number of members), the average
is saved, checksummed, loaded and compiled like any other ranker, and scores on the same scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb

_TREES_END = "\nend of trees"


def _trees(model: str) -> list[list[str]]:
    """The lines of each ``Tree=`` block of a LightGBM text model."""
    body = model.split(_TREES_END, 1)[0]
    blocks = body.split("\nTree=")[1:]
    return [("Tree=" + b.strip("\n")).split("\n") for b in blocks]


def _scaled(lines: list[str], index: int, scale: float) -> str:
    out = [f"Tree={index}"]
    for line in lines[1:]:
        if line.startswith("leaf_value="):
            values = line.removeprefix("leaf_value=").split()
            line = "leaf_value=" + " ".join(repr(float(v) * scale) for v in values)
        out.append(line)
    return "\n".join(out)


def average_boosters(boosters: Sequence[lgb.Booster]) -> lgb.Booster:
    """One booster whose raw score is the mean of ``boosters``' raw scores (one tree per class
    and iteration, as LambdaRank and binary boosters have). A single booster comes back as is."""
    if not boosters:
        raise ValueError("no booster to average")
    if len(boosters) == 1:
        return boosters[0]
    models = [b.model_to_string() for b in boosters]
    head = models[0].split("\nTree=", 1)[0]
    # tree_sizes lets LightGBM parse trees in parallel; without it, it reads them in order
    head = "\n".join(line for line in head.split("\n") if not line.startswith("tree_sizes="))
    scale = 1.0 / len(models)
    trees = [lines for m in models for lines in _trees(m)]
    body = "\n\n".join(_scaled(lines, i, scale) for i, lines in enumerate(trees))
    tail = models[0].split(_TREES_END, 1)[1]
    merged = lgb.Booster(model_str=f"{head.rstrip()}\n\n{body}\n{_TREES_END.lstrip(chr(10))}{tail}")
    if merged.num_trees() != len(trees):
        raise ValueError(f"averaged booster has {merged.num_trees()} trees, expected {len(trees)}")
    return merged

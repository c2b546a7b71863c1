"""A small seeded demo world and its simulated users, shared by the simulator's tests."""

from __future__ import annotations

import numpy as np
import pytest

from recsvc.data.demo import DemoConfig, generate_demo_frames
from recsvc.data.demo.world import build_world
from recsvc.simulate.response import Population


@pytest.fixture(scope="session")
def population() -> Population:
    cfg = DemoConfig(n_users=200, n_items=60, days=20, seed=3)
    frames = generate_demo_frames(cfg, progress=False)
    world, _, _, _ = build_world(cfg, np.random.default_rng(cfg.seed))
    return Population.from_world(world, frames.users, frames.items)

from __future__ import annotations

import numpy as np

from recsvc.recs.rules import diversify, eligible, parse_cities


def test_eligible_filters() -> None:
    rows = np.arange(6)
    ok = eligible(
        rows,
        in_stock=np.array([True, False, True, True, True, True]),
        cities=[
            frozenset(),
            frozenset(),
            frozenset({"shanghai"}),
            frozenset({"beijing"}),
            frozenset(),
            frozenset(),
        ],
        city="Shanghai",
        excluded=np.array([4]),
        recently_pushed=np.array([], dtype=np.int64),
        bought_last={5: 1000.0, 0: 0.0},
        repurchase_ok=np.zeros(6, dtype=bool),
        now=1000.0 + 86400,
        no_rebuy_days=30,
    )
    # 0: bought long ago -> ok (1000 s < 30 days? no: bought at t=0, now ~1 day -> recent)
    assert ok.tolist() == [False, False, True, False, False, False]
    ok2 = eligible(
        rows,
        in_stock=np.ones(6, bool),
        cities=[frozenset()] * 6,
        city="",
        excluded=np.array([], np.int64),
        recently_pushed=np.array([2]),
        bought_last={5: 0.0},
        repurchase_ok=np.array([0, 0, 0, 0, 0, 1], bool),
        now=86400.0,
        no_rebuy_days=30,
    )
    assert ok2.tolist() == [True, True, False, True, True, True]


def test_diversify_caps_share_and_backfills() -> None:
    cats = np.array([0, 0, 0, 0, 1, 2])
    out = diversify(np.arange(6), cats, k=4, max_share=0.5)
    assert out.tolist() == [0, 1, 4, 5]
    # not enough other categories: backfill in score order rather than return fewer
    out = diversify(np.arange(4), np.zeros(4, dtype=np.int64), k=3, max_share=0.34)
    assert out.tolist() == [0, 1, 2]
    assert diversify(np.arange(3), cats, k=10, max_share=1.0).tolist() == [0, 1, 2]


def test_parse_cities() -> None:
    assert parse_cities("Shanghai| Beijing") == {"shanghai", "beijing"}
    assert parse_cities("") == frozenset() and parse_cities(None) == frozenset()

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsvc.data.io import normalize_events
from recsvc.errors import InvalidArgument
from recsvc.lifecycle.bgnbd import BGNBDParams
from recsvc.lifecycle.features import FEATURE_NAMES, PARETONBD_COLUMNS, compute_features

CUT = pd.Timestamp("2024-03-01", tz="UTC")


def _ev(rows: list[tuple[str, str, str]], **extra: list[object]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["user_id", "ts", "event_type"])
    for k, v in extra.items():
        df[k] = v
    return normalize_events(df)


def test_shape_dtype_and_order(synth_events: pd.DataFrame) -> None:
    f = compute_features(synth_events, pd.Timestamp("2024-05-01", tz="UTC"))
    assert tuple(f.columns) == FEATURE_NAMES
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert all(dt == np.float32 for dt in f.dtypes)
    assert f.index.name == "user_id" and f.index.is_unique
    assert f["bgnbd_p_alive"].dropna().between(0, 1).all() and f["bgnbd_p_alive"].notna().sum() > 300
    assert not any(name.startswith("pnbd_") for name in f.columns)


def test_paretonbd_columns_only_on_request(synth_events: pd.DataFrame) -> None:
    """Pareto/NBD's scores are churn-evaluation baselines: appended when asked for, never model features."""
    cut = pd.Timestamp("2024-05-01", tz="UTC")
    assert not set(PARETONBD_COLUMNS) & set(FEATURE_NAMES)
    plain = compute_features(synth_events, cut)
    f = compute_features(synth_events, cut, with_paretonbd=True)
    assert tuple(f.columns) == FEATURE_NAMES + PARETONBD_COLUMNS
    pd.testing.assert_frame_equal(f[list(FEATURE_NAMES)], plain)
    for name in ("pnbd_p_alive", "pnbd_p_zero_h"):
        assert f[name].dropna().between(0, 1).all() and f[name].notna().sum() > 300
    assert (f["pnbd_expected_h"].dropna() >= 0).all()
    # Silence in the horizon needs more than being alive: P(no purchase) >= 1 - P(alive).
    act = f["pnbd_p_alive"].notna()
    assert (f.loc[act, "pnbd_p_zero_h"] >= 1 - f.loc[act, "pnbd_p_alive"] - 1e-6).all()
    # Without BG/NBD (rule inputs only) there is no fit, so the columns are NaN.
    assert (
        compute_features(synth_events, cut, with_bgnbd=False, with_paretonbd=True)[list(PARETONBD_COLUMNS)]
        .isna()
        .all()
        .all()
    )


def test_no_look_ahead(synth_events: pd.DataFrame) -> None:
    cut = pd.Timestamp("2024-05-01", tz="UTC")
    params = BGNBDParams(r=0.5, alpha=5.0, a=0.8, b=3.0)
    before = synth_events[synth_events["ts"] < cut]
    a = compute_features(before, cut, bgnbd=params)
    b = compute_features(synth_events, cut, bgnbd=params)
    pd.testing.assert_frame_equal(a, b)
    # Fitting BG/NBD on the window must not peek either.
    pd.testing.assert_frame_equal(compute_features(before, cut), compute_features(synth_events, cut))
    # A brand-new event after the cut-off for an existing user changes nothing.
    uid = a.index[0]
    late = normalize_events(
        pd.DataFrame({"user_id": [uid], "ts": ["2024-05-02T00:00:00Z"], "event_type": ["purchase"]})
    )
    c = compute_features(pd.concat([synth_events, late]).sort_values("ts"), cut, bgnbd=params)
    pd.testing.assert_frame_equal(b, c)


def test_hand_checked_values() -> None:
    ev = _ev(
        [
            ("a", "2024-01-01T10:00:00Z", "view"),
            ("a", "2024-01-01T10:10:00Z", "add_to_cart"),
            ("a", "2024-01-11T10:00:00Z", "purchase"),
            ("a", "2024-02-20T09:00:00Z", "add_to_cart"),
            ("a", "2024-02-20T09:05:00Z", "add_to_cart"),
            ("a", "2024-02-20T09:06:00Z", "remove_from_cart"),
            ("b", "2024-02-01T00:00:00Z", "push_delivered"),
            ("b", "2024-02-02T00:00:00Z", "push_delivered"),
            ("b", "2024-02-02T01:00:00Z", "push_opened"),
            ("b", "2024-02-03T00:00:00Z", "unsubscribe"),
        ],
        value=[None, None, 25.0, None, None, None, None, None, None, None],
    )
    f = compute_features(ev, CUT, users=["a", "b", "ghost"])
    a, b, g = f.loc["a"], f.loc["b"], f.loc["ghost"]
    assert a["recency_days"] == pytest.approx((CUT - pd.Timestamp("2024-02-20T09:06:00Z")).total_seconds() / 86400)
    assert a["active_days_all"] == 3 and a["n_events_all"] == 6 and a["n_sessions_all"] == 3
    assert a["gap_mean_days"] == pytest.approx(25.0)  # day gaps 10 and 40
    assert a["n_purchases_all"] == 1 and a["money_all"] == pytest.approx(25.0)
    assert a["days_since_purchase"] == pytest.approx(50.0 - 10 / 24, rel=1e-4)
    assert a["cart_open_items"] == 1  # two adds, one removal after the last purchase
    assert a["hours_since_cart"] == pytest.approx((CUT - pd.Timestamp("2024-02-20T09:05:00Z")).total_seconds() / 3600)
    assert a["n_add_to_cart"] == 3 and a["bgnbd_repeat_days"] == 2
    assert b["push_delivered_all"] == 2 and b["push_open_rate"] == 0.5 and b["opens_last5"] == 1
    assert b["pushes_last5"] == 2 and b["unsubscribed"] == 1
    assert b["active_days_all"] == 2  # push_delivered is not activity; open and unsubscribe are
    # Cold start: counts 0, time-since features unknown.
    assert g["n_events_all"] == 0 and np.isnan(g["recency_days"]) and np.isnan(g["bgnbd_p_alive"])


def test_last_five_pushes() -> None:
    rows = [("u", f"2024-01-{d:02d}T08:00:00Z", "push_delivered") for d in range(1, 11)]
    rows += [("u", "2024-01-02T09:00:00Z", "push_opened"), ("u", "2024-01-09T09:00:00Z", "push_opened")]
    f = compute_features(_ev(rows), CUT)
    assert f.loc["u", "pushes_last5"] == 5 and f.loc["u", "opens_last5"] == 1  # only the 9th is in the last 5
    assert f.loc["u", "push_open_rate"] == pytest.approx(0.2)


def test_purchase_only_and_view_only_logs() -> None:
    buys = _ev(
        [
            ("c1", "2024-01-05T00:00:00Z", "purchase"),
            ("c1", "2024-02-05T00:00:00Z", "purchase"),
            ("c2", "2024-01-20T00:00:00Z", "purchase"),
        ],
        value=[10.0, 12.0, 8.0],
    )
    views = _ev(
        [
            ("m1", "2024-01-05T20:00:00Z", "view"),
            ("m1", "2024-01-06T21:00:00Z", "view"),
            ("m2", "2024-02-10T03:00:00Z", "view"),
        ],
        item_id=["x", "y", "x"],
    )
    for ev in (buys, views):
        f = compute_features(ev, CUT, horizon_days=60)
        assert len(f) == 2 and tuple(f.columns) == FEATURE_NAMES
        assert f["bgnbd_p_zero_h"].between(0, 1).all()
    assert compute_features(views, CUT)["n_distinct_items"].tolist() == [2.0, 1.0]


def test_bad_inputs() -> None:
    ev = _ev([("a", "2024-01-01T00:00:00Z", "view")])
    with pytest.raises(InvalidArgument):
        compute_features(ev, CUT, horizon_days=0)
    with pytest.raises(InvalidArgument, match="ts"):
        compute_features(ev.drop(columns=["ts"]), CUT)
    empty = compute_features(ev, pd.Timestamp("2023-01-01", tz="UTC"))
    assert empty.empty and tuple(empty.columns) == FEATURE_NAMES

"""The demo app must be deterministic, canonical and carry the signal the models are meant to learn."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsvc.data.demo import DEMO_CITIES, DemoConfig, DemoFrames, generate_demo, generate_demo_frames
from recsvc.data.io import read_events, read_items, read_users
from recsvc.errors import InvalidArgument
from recsvc.vocabulary import EVENT_TYPES

N_USERS, N_ITEMS, DAYS, SEED = 400, 100, 45, 7
END = pd.Timestamp("2026-11-01T00:00:00Z")
SYSTEM = ("push_delivered",)  # not the user's doing


@pytest.fixture(scope="module")
def written(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    out = tmp_path_factory.mktemp("demo")
    paths = generate_demo(out, n_users=N_USERS, n_items=N_ITEMS, days=DAYS, seed=SEED, progress=False)
    return out, read_events(paths.events), read_items(paths.items), read_users(paths.users)


@pytest.fixture(scope="module")
def frames() -> DemoFrames:
    return generate_demo_frames(DemoConfig(n_users=N_USERS, n_items=N_ITEMS, days=DAYS, seed=SEED), progress=False)


def _local_hours(ev: pd.DataFrame, users: pd.DataFrame) -> pd.Series:
    tz = ev["user_id"].map(users.set_index("user_id")["timezone"])
    out = pd.Series(-1, index=ev.index, dtype="int64")
    for zone, idx in ev.groupby(tz).groups.items():
        out.loc[idx] = ev.loc[idx, "ts"].dt.tz_convert(str(zone)).dt.hour
    return out


def test_files_read_back_through_the_canonical_readers(
    written: tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    out, ev, items, users = written
    assert sorted(p.name for p in out.iterdir()) == ["events.csv.gz", "items.csv", "users.csv"]
    assert len(items) == N_ITEMS and len(users) == N_USERS
    assert ev["ts"].min() >= END - pd.Timedelta(days=DAYS) and ev["ts"].max() < END
    assert (ev["ts_offset_min"] == 0).all()  # written in UTC
    assert set(ev["user_id"]) <= set(users["user_id"]) and set(ev["item_id"].dropna()) <= set(items["item_id"])
    assert (
        users["user_id"].iloc[0] == "u00001"
        and users["timezone"].isin([c.timezone for c in DEMO_CITIES.values()]).all()
    )
    for city, tz in zip(users["city"], users["timezone"], strict=True):
        assert DEMO_CITIES[city].timezone == tz
    assert set(users["locale"]) == {"zh-CN", "en-US"} and (users["locale"] == "zh-CN").mean() > 0.6
    assert users["first_name"].str.len().gt(0).all() and users["signup_ts"].notna().all()
    assert 0.6 < users["push_opt_in"].mean() < 0.95 and users["sms_opt_in"].mean() < 0.6
    assert (users["quiet_hours"] != "").mean() > 0.1
    # items: priced, illustrated, mostly in stock, some sold only in a few cities
    assert items["category"].nunique() == 12 and (items["price"] > 0).all() and (items["currency"] == "CNY").all()
    assert items["image_url"].str.startswith("https://cdn.example.com/img/").all()
    assert (items["video_url"] != "").any() and (items["in_stock"]).mean() > 0.8
    assert (items["cities"] != "").any() and (items["cities"] == "").mean() > 0.6
    raw = pd.read_csv(out / "items.csv")
    assert raw["title_zh"].str.contains(r"[\u4e00-\u9fff]").all()


def test_every_event_type_and_unique_ids(
    written: tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    _, ev, _, _ = written
    assert set(ev["event_type"]) == set(EVENT_TYPES)
    assert ev["event_id"].notna().all() and ev["event_id"].is_unique
    push = ev[ev["event_type"].str.startswith("push_")]
    assert (push["channel"] == "app_push").all() and push["campaign_id"].notna().all()
    assert push["variant"].isin(["A", "B"]).all()
    assert (ev.loc[ev["event_type"].isin(["email_opened", "email_clicked"]), "channel"] == "email").all()
    assert (ev.loc[ev["event_type"] == "sms_clicked", "channel"] == "sms").all()
    geo = ev[ev["event_type"] == "geo_enter"]
    assert geo[["lat", "lon", "city"]].notna().all().all()
    assert ev.loc[ev["event_type"].isin(["view", "add_to_cart", "purchase", "feedback"]), "item_id"].notna().all()
    ratings = ev.loc[ev["event_type"] == "feedback", "payload"].map(lambda s: json.loads(s)["rating"])
    assert ratings.between(1, 5).all() and ratings.mean() > 3
    queries = ev.loc[ev["event_type"] == "search", "payload"].map(lambda s: json.loads(s)["query"])
    assert queries.str.len().gt(0).all()


def test_purchase_values_match_prices(written: tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    _, ev, items, _ = written
    buys = ev[ev["event_type"] == "purchase"].merge(items[["item_id", "price"]], on="item_id")
    assert len(buys) > 50
    assert (buys["quantity"] >= 1).all()
    np.testing.assert_allclose(buys["value"], (buys["price"] * buys["quantity"]).round(2), atol=0.005)
    # every purchased item was put in the cart first (unless the cart fell before the window)
    in_window = buys["ts"] > END - pd.Timedelta(days=DAYS - 1)
    carts = set(zip(*ev.loc[ev["event_type"] == "add_to_cart", ["user_id", "item_id"]].T.values, strict=True))
    assert all((u, i) in carts for u, i in buys.loc[in_window, ["user_id", "item_id"]].itertuples(index=False))


def test_same_seed_same_bytes_other_seed_other_data(
    tmp_path: Path, written: tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame]
) -> None:
    first = written[0]
    again = generate_demo(tmp_path / "a", n_users=N_USERS, n_items=N_ITEMS, days=DAYS, seed=SEED, progress=False)
    for p in (again.events, again.items, again.users):
        assert p.read_bytes() == (first / p.name).read_bytes(), p.name
    other = generate_demo(tmp_path / "b", n_users=N_USERS, n_items=N_ITEMS, days=DAYS, seed=SEED + 1, progress=False)
    assert other.events.read_bytes() != again.events.read_bytes()


def test_no_event_before_signup_and_new_users_have_little_history(
    written: tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    _, ev, _, users = written
    signup = ev["user_id"].map(users.set_index("user_id")["signup_ts"])
    assert (ev["ts"] >= signup).all()
    new = users.loc[users["signup_ts"] > END - pd.Timedelta(days=7), "user_id"]
    old = users.loc[users["signup_ts"] < END - pd.Timedelta(days=DAYS), "user_id"]
    per_user = ev.groupby("user_id").size()
    assert len(new) > 5
    assert per_user.reindex(new, fill_value=0).median() < per_user.reindex(old, fill_value=0).median()


def test_lifecycle_stages_are_all_present(
    written: tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    _, ev, items, _ = written
    by_type = ev.groupby("event_type")["user_id"].agg(set)
    viewers, carters, buyers = by_type["view"], by_type["add_to_cart"], by_type["purchase"]
    assert len(viewers - carters - buyers) > 20  # browsers
    assert len(carters - buyers) > 10  # cart abandoners
    buys = ev[ev["event_type"] == "purchase"]
    assert (buys.groupby("user_id").size() >= 2).sum() > 10  # repeat buyers
    cat = buys["item_id"].map(items.set_index("item_id")["category"])
    consumable = cat.isin(["snacks", "coffee_tea", "baby", "pet_supplies", "beauty"])
    assert buys[consumable].duplicated(["user_id", "item_id"]).any()  # consumables are bought again


def test_some_users_go_silent_and_recency_predicts_it(
    written: tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame], frames: DemoFrames
) -> None:
    _, ev, _, _ = written
    own = ev[~ev["event_type"].isin(SYSTEM)]
    last = own.groupby("user_id")["ts"].max()
    silent = last < END - pd.Timedelta(days=14)
    assert 0.07 < silent.mean() < 0.8
    churn_ts = frames.truth.set_index("user_id")["churn_ts"]
    assert (churn_ts.loc[silent[silent].index] < END).mean() > 0.8  # silence is mostly real churn
    # the churn label over a horizon is predictable from recency, but not perfectly
    cut = END - pd.Timedelta(days=14)
    before = own[own["ts"] < cut].groupby("user_id")["ts"].max()
    churned = ~before.index.isin(own.loc[own["ts"] >= cut, "user_id"].unique())
    recency = (cut - before).dt.total_seconds().to_numpy()
    pos, neg = recency[churned], recency[~churned]
    auc = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert 0.65 < auc < 0.99


def test_activity_clusters_around_personal_local_peak_hours(
    written: tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame], frames: DemoFrames
) -> None:
    _, ev, _, users = written
    opens = ev[ev["event_type"] == "app_open"].copy()
    opens["hour"] = _local_hours(opens, users)
    truth = frames.truth.set_index("user_id")
    p1 = opens["user_id"].map(truth["peak_hour_1"]).to_numpy()
    p2 = opens["user_id"].map(truth["peak_hour_2"]).to_numpy()
    near = (np.abs((opens["hour"].to_numpy() - p1 + 12) % 24 - 12) <= 1) | (
        (p2 >= 0) & (np.abs((opens["hour"].to_numpy() - p2 + 12) % 24 - 12) <= 1)
    )
    share_peak = near.mean()
    assert share_peak > 0.55  # 3 to 6 of 24 hours would hold at most 25% if hours were uniform
    # and the peaks are personal: a user's modal local hour is mostly their own peak
    mode = opens.groupby("user_id")["hour"].agg(lambda s: s.value_counts().idxmax())
    counts = opens.groupby("user_id").size()
    busy = mode[counts >= 8]
    hit = [
        h in (truth.at[u, "peak_hour_1"], truth.at[u, "peak_hour_2"]) or abs(h - truth.at[u, "peak_hour_1"]) == 1
        for u, h in busy.items()
    ]
    assert len(busy) > 50 and np.mean(hit) > 0.6


def test_push_opens_depend_on_send_hour(
    written: tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame], frames: DemoFrames
) -> None:
    _, ev, _, users = written
    sent = ev[ev["event_type"] == "push_delivered"][["user_id", "campaign_id", "ts"]].copy()
    opened = ev[ev["event_type"] == "push_opened"][["user_id", "campaign_id"]].assign(opened=1)
    sent = sent.merge(opened, on=["user_id", "campaign_id"], how="left").fillna({"opened": 0})
    assert 0.03 < sent["opened"].mean() < 0.3
    hour = _local_hours(sent, users).to_numpy()
    truth = frames.truth.set_index("user_id")
    p1 = sent["user_id"].map(truth["peak_hour_1"]).to_numpy()
    p2 = sent["user_id"].map(truth["peak_hour_2"]).to_numpy()
    d = np.abs((hour - p1 + 12) % 24 - 12)
    d = np.where(p2 >= 0, np.minimum(d, np.abs((hour - p2 + 12) % 24 - 12)), d)
    on_peak = sent["opened"].to_numpy()[d <= 1].mean()
    off_peak = sent["opened"].to_numpy()[d >= 3].mean()
    assert on_peak > 2 * off_peak
    # quiet hours are respected by the sender
    q = sent["user_id"].map(users.set_index("user_id")["quiet_hours"])
    for spec, h in zip(q, hour, strict=True):
        if spec:
            a, b = (int(x) for x in spec.split("-"))
            assert not (h >= a or h < b) if a > b else not (a <= h < b)


def test_frames_match_files_and_truth_is_hidden(
    written: tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame], frames: DemoFrames
) -> None:
    _, ev, _, users = written
    assert len(frames.events) == len(ev)
    assert "segment" not in users.columns and "segment" in frames.truth.columns
    assert set(frames.truth["segment"]) == {"browser", "abandoner", "buyer", "loyal"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_users": 0}, "n_users"),
        ({"n_items": 5}, "n_items"),
        ({"days": 0}, "days"),
        ({"end": datetime(2026, 1, 1)}, "end"),
        ({"push_per_week": 9.0}, "push_per_week"),
    ],
)
def test_config_validation_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        DemoConfig(**kwargs).validate()  # type: ignore[arg-type]
    assert err.value.field == field

"""``recsvc score`` and ``recsvc campaign`` give the rows that per-user calls give at the same time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.cli import main
from recsvc.server.app import RecsvcServer
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc
from tests.grpc.conftest import Trained


@pytest.fixture()
def config(trained: Trained, tmp_path: Path) -> str:
    s = trained.settings
    path = tmp_path / "recsvc.toml"
    path.write_text(
        f'[paths]\nstore = "{s.paths.store}"\nmodels_dir = "{s.paths.models_dir}"\n'
        f'[copy]\nbase_url = "{s.copy.base_url}"\ntimeout_s = 0.5\nmax_retries = 0\n',
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture()
def users(server: RecsvcServer, tmp_path: Path) -> list[str]:
    """Buyers that no test changes (tests that change a user take a copy of their own)."""
    ids = server.engine.store.most_active_users(event_type="purchase", limit=6, offset=1)
    (tmp_path / "users.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")
    return ids


def _ts(t: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(t)
    return ts


def _utc(value: object) -> datetime:
    return pd.Timestamp(value).tz_convert("UTC").to_pydatetime()


def test_campaign_rows_equal_per_user_recommend(
    stub: pb_grpc.PushRecommenderStub, config: str, users: list[str], tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    out = tmp_path / "campaign.parquet"
    argv = ["campaign", "--config", config, "-q", "--out", str(out), "--users", str(tmp_path / "users.txt")]
    assert main([*argv, "--as-of", now.isoformat(), "--max-candidates", "3", "--chunk", "4"]) == 0
    rows = pd.read_parquet(out)
    assert set(rows["user_id"]) == set(users)
    for uid in users:
        ctx = pb.RequestContext(now=_ts(now), trigger=pb.TRIGGER_SCHEDULED)
        resp = stub.Recommend(pb.RecommendRequest(user_id=uid, context=ctx, max_candidates=3))
        mine = rows[rows["user_id"] == uid].sort_values("rank")
        assert list(mine["item_id"]) == [c.item.item_id for c in resp.candidates]
        assert list(mine["dedupe_key"]) == [c.dedupe_key for c in resp.candidates]
        assert list(mine["score"]) == pytest.approx([c.score for c in resp.candidates], rel=1e-4)
        for (_, row), c in zip(mine.iterrows(), resp.candidates, strict=True):
            assert pb.Channel.Name(c.channel) == f"CHANNEL_{row['channel'].upper()}"
            assert _utc(row["send_at"]) == c.send_time.send_at.ToDatetime(tzinfo=UTC)
            assert row["stage"] == pb.LifecycleStage.Name(resp.lifecycle.current_stage).split("_", 2)[-1].lower()
            assert row["churn_risk"] == pytest.approx(resp.lifecycle.churn_risk, rel=1e-4)


@pytest.mark.parametrize("trigger", ["scheduled", "cart_idle"])
def test_campaign_rows_equal_recommend_after_rejection_and_with_a_cart(
    stub: pb_grpc.PushRecommenderStub, own_user: str, config: str, tmp_path: Path, trigger: str
) -> None:
    """A batch builds only the shown candidates (all of them when feedback re-ranks): a user who
    rejected their top item's category and has an item in the cart gets the rows ``Recommend`` gives."""
    now = datetime.now(UTC).replace(microsecond=0)
    ctx = pb.RequestContext(now=_ts(now), trigger=pb.Trigger.Value(f"TRIGGER_{trigger.upper()}"))
    ask = pb.RecommendRequest(user_id=own_user, context=ctx, max_candidates=3)
    first = stub.Recommend(ask)
    rejected, carted = first.candidates[0].item, first.candidates[-1].item
    at = _ts(now - timedelta(minutes=1))
    events = [
        pb.Event(event_id=f"{own_user}-nr", user_id=own_user, ts=at, event_type=pb.EVENT_TYPE_FEEDBACK,
                 item_id=rejected.item_id, payload=json.dumps({"reasons": ["not_relevant"]})),
        pb.Event(event_id=f"{own_user}-cart", user_id=own_user, ts=at, event_type=pb.EVENT_TYPE_ADD_TO_CART,
                 item_id=carted.item_id),
    ]  # fmt: skip
    assert stub.ReportEvents(pb.ReportEventsRequest(events=events)).accepted == 2
    served = stub.Recommend(ask)
    assert [c.item.item_id for c in served.candidates] != [c.item.item_id for c in first.candidates]
    (tmp_path / "one.txt").write_text(own_user + "\n", encoding="utf-8")
    out = tmp_path / "campaign.parquet"
    argv = ["campaign", "--config", config, "-q", "--out", str(out), "--users", str(tmp_path / "one.txt")]
    assert main([*argv, "--as-of", now.isoformat(), "--max-candidates", "3", "--trigger", trigger]) == 0
    rows = pd.read_parquet(out).sort_values("rank")
    assert list(rows["item_id"]) == [c.item.item_id for c in served.candidates]
    assert list(rows["reason"]) == [c.reason for c in served.candidates]
    assert list(rows["score"]) == pytest.approx([c.score for c in served.candidates], rel=1e-4)


def test_score_rows_equal_score_users(
    stub: pb_grpc.PushRecommenderStub, config: str, users: list[str], tmp_path: Path
) -> None:
    as_of = datetime.now(UTC).replace(microsecond=0)
    out = tmp_path / "scores.parquet"
    argv = ["score", "--config", config, "-q", "--out", str(out), "--users", str(tmp_path / "users.txt")]
    assert main([*argv, "--as-of", as_of.isoformat()]) == 0
    rows = pd.read_parquet(out).set_index("user_id")
    resp = stub.ScoreUsers(pb.ScoreUsersRequest(user_ids=users, as_of=_ts(as_of)))
    for s in resp.scores:
        row = rows.loc[s.user_id]
        assert row["churn_risk"] == pytest.approx(s.lifecycle.churn_risk, rel=1e-4)
        assert row["tier"] == pb.EngagementTier.Name(s.engagement_tier).removeprefix("ENGAGEMENT_TIER_").lower()
        assert row["churn_reason_1"] == (s.lifecycle.churn_reasons[0].text if s.lifecycle.churn_reasons else "")
        assert 0 <= row["send_local_hour"] < 24


def test_every_user_is_scored_by_default(config: str, server: RecsvcServer, tmp_path: Path) -> None:
    out = tmp_path / "all.parquet"
    assert main(["score", "--config", config, "-q", "--out", str(out), "--chunk", "100"]) == 0
    assert len(pd.read_parquet(out)) == len(server.engine.store.history_signatures())


def test_a_segment_picks_its_users(config: str, tmp_path: Path) -> None:
    scores, picked = tmp_path / "s.parquet", tmp_path / "c.parquet"
    assert main(["score", "--config", config, "-q", "--out", str(scores)]) == 0
    risky = pd.read_parquet(scores).query("churn_risk > 0.5")
    assert len(risky) > 0
    argv = ["campaign", "--config", config, "-q", "--out", str(picked), "--max-candidates", "1"]
    assert main([*argv, "--segment", "churn_risk>0.5", "--channels", "email,app_push"]) == 0
    rows = pd.read_parquet(picked)
    assert set(rows["user_id"]) <= set(risky["user_id"]) and len(rows) > 0
    assert set(rows["channel"]) <= {"email", "app_push", ""}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--segment", "stage=sleepy"], "unknown stage"),
        (["--channels", "fax"], "unknown channel"),
        (["--as-of", "yesterday"], "ISO 8601"),
        (["--users", "/no/such/file"], "no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    assert main(["campaign", "--config", config, "-q", "--out", str(tmp_path / "x.parquet"), *args]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and says in errors[0] and "Traceback" not in err

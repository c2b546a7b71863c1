"""Experiments through the real server: a user's arm rides on the decision and its booked send, its
outcomes come back in its arm, held-out users get no push but are counted for retention, each kind of
arm changes what it says it changes, and an optimize bandit learns from a click."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pandas as pd
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.cli import main
from recsvc.engine.experiment_step import bandit_context
from recsvc.experiments.assignment import GlobalControl, assign
from recsvc.experiments.bandit import variant_set_key
from recsvc.experiments.definitions import Arm, Experiment
from recsvc.server.app import RecsvcServer, build_server
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc
from tests.grpc.conftest import Trained, clone_user

COPY_AB = Experiment(
    id="copy-ab", decision="copy_variant", arms=(Arm("a", 0.5), Arm("b", 0.5)), primary_metric="click_rate"
)
CONTROL = GlobalControl(share=0.2)


def _ts(dt: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(dt)
    return t


@pytest.fixture(scope="module")
def exp_server(trained: Trained, known_user: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecsvcServer]:
    """A server of its own over a copy of the trained store, with one experiment and a control group."""
    store = tmp_path_factory.mktemp("experiments") / "recsvc.db"
    with sqlite3.connect(trained.settings.paths.store) as src, sqlite3.connect(store) as dst:
        src.backup(dst)
    settings = trained.settings.with_overrides(
        paths={"store": str(store)}, experiments=(COPY_AB,), global_control=CONTROL
    )
    srv = build_server(settings)
    srv.start(load_models=False)
    srv.load_models_now()
    yield srv
    srv.stop(0)


@pytest.fixture(scope="module")
def exp_stub(exp_server: RecsvcServer) -> Iterator[pb_grpc.PushRecommenderStub]:
    with grpc.insecure_channel(f"127.0.0.1:{exp_server.port}") as ch:
        yield pb_grpc.PushRecommenderStub(ch)


def _user(server: RecsvcServer, source: str, *, arm: str | None = None, held_out: bool = False) -> str:
    """A clone of ``source`` under a new id that the hashes put in ``arm`` of COPY_AB (or the control group)."""
    while True:
        uid = f"exp-{uuid.uuid4().hex[:12]}"
        in_control = CONTROL.holds(uid)
        wanted = in_control if held_out else (not in_control and assign(COPY_AB, uid).arm == arm)
        if wanted:
            return clone_user(server, source, uid)


def _recommend(stub: pb_grpc.PushRecommenderStub, user: str, now: datetime, **kw: object) -> pb.RecommendResponse:
    stub.UpsertUsers(pb.UpsertUsersRequest(users=[pb.User(user_id=user, push_opt_in=True, sms_opt_in=True)]))
    ctx = pb.RequestContext(trigger=kw.pop("trigger", pb.TRIGGER_APP_OPEN), now=_ts(now))  # type: ignore[arg-type]
    req = pb.RecommendRequest(user_id=user, context=ctx, max_candidates=3, reserve=True, **kw)  # type: ignore[arg-type]
    return stub.Recommend(req, timeout=60)


def _event(user: str, kind: pb.EventType, at: datetime, key: str = "", **kw: object) -> pb.Event:
    return pb.Event(
        event_id=f"{user}-{uuid.uuid4().hex[:8]}", user_id=user, ts=_ts(at), event_type=kind, dedupe_key=key, **kw
    )


def test_outcomes_come_back_in_the_users_arm(
    exp_server: RecsvcServer, exp_stub: pb_grpc.PushRecommenderStub, known_user: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    in_b = _user(exp_server, known_user, arm="b")
    in_a = _user(exp_server, known_user, arm="a")
    r = _recommend(exp_stub, in_b, now, allowed_channels=[pb.CHANNEL_APP_PUSH], write_copy=True)
    assert not r.HasField("suppression"), r.suppression
    assert (r.experiment_id, r.arm) == ("copy-ab", "b")
    assert {c.message.variant for c in r.candidates} == {"b"}
    other = _recommend(exp_stub, in_a, now, allowed_channels=[pb.CHANNEL_APP_PUSH], write_copy=True)
    assert (other.arm, other.candidates[0].message.variant) == ("a", "a")
    key = r.candidates[0].dedupe_key
    at = now + timedelta(minutes=5)
    events = [
        _event(in_b, pb.EVENT_TYPE_PUSH_DELIVERED, at, key),
        _event(in_b, pb.EVENT_TYPE_PUSH_OPENED, at + timedelta(minutes=1), key),
        _event(in_b, pb.EVENT_TYPE_PUSH_CLICKED, at + timedelta(minutes=2), key),
        _event(in_b, pb.EVENT_TYPE_PURCHASE, at + timedelta(minutes=9), key, item_id="i-1", value=12.0),
    ]
    assert exp_stub.ReportEvents(pb.ReportEventsRequest(events=events), timeout=60).accepted == 4
    query = pb.GetOutcomesRequest(
        since=_ts(now - timedelta(minutes=1)),
        until=_ts(now + timedelta(minutes=1)),
        group_by=[pb.OUTCOME_DIMENSION_EXPERIMENT_ARM],
        experiment_id="copy-ab",
    )
    rows = {row.arm: row for row in exp_stub.GetOutcomes(query, timeout=30).rows}
    b = rows["b"]
    assert (b.experiment_id, b.sends, b.delivered, b.opens, b.clicks, b.conversions) == ("copy-ab", 1, 1, 1, 1, 1)
    assert (rows["a"].sends, rows["a"].opens, rows["a"].clicks) == (1, 0, 0)


def test_the_global_control_group_is_held_out_and_counted_for_retention(
    exp_server: RecsvcServer, exp_stub: pb_grpc.PushRecommenderStub, known_user: str
) -> None:
    then = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    held = _user(exp_server, known_user, held_out=True)
    r = _recommend(exp_stub, held, then)
    assert r.suppression.reason == pb.SUPPRESSION_REASON_HELD_OUT and "global control" in r.suppression.detail
    assert (r.experiment_id, r.arm) == ("", "")
    assert r.candidates  # still listed, for previews
    came_back = _event(held, pb.EVENT_TYPE_APP_OPEN, then + timedelta(days=1, hours=2))
    assert exp_stub.ReportEvents(pb.ReportEventsRequest(events=[came_back]), timeout=60).accepted == 1
    rows = exp_server.engine.outcomes.retention("", datetime.now(UTC))
    control = [x for x in rows if x.arm == "global_control" and x.day == 1]
    assert control and control[0].held_out and control[0].active >= 1
    values = exp_stub.GetMetrics(pb.GetMetricsRequest(), timeout=30).values
    assert values["retention.global_control_d1_users"] == control[0].users
    assert values["retention.global_control_d1"] == pytest.approx(control[0].rate)
    cohort = pb.GetOutcomesRequest(since=_ts(then - timedelta(hours=1)), until=_ts(then + timedelta(hours=1)))
    retention = exp_stub.GetOutcomes(cohort, timeout=30).retention
    day1 = [(r.experiment_id, r.arm, r.held_out, r.users, r.active, r.rate) for r in retention if r.day == 1]
    assert day1 == [("", "global_control", True, 1, 1, 1.0)]  # this test's user alone was exposed then


@pytest.fixture()
def only(exp_server: RecsvcServer) -> Iterator[object]:
    """Run the server under one experiment (every user in its single arm) for one test."""
    before = exp_server.engine.settings

    def use(decision: str, arm: str, mode: str = "split") -> str:
        """Every user in ``arm``; with mode "optimize", a bandit between ``arm`` and "z"."""
        arms = (Arm(arm, 0.5), Arm("z", 0.5)) if mode == "optimize" else (Arm(arm, 1.0),)
        exp_id = "only-opt" if mode == "optimize" else f"only-{decision}"
        exp = Experiment(id=exp_id, decision=decision, arms=arms, primary_metric="click_rate", mode=mode)
        exp_server.engine.settings = before.with_overrides(experiments=(exp,), global_control=GlobalControl())
        return exp.id

    yield use
    exp_server.engine.settings = before


def test_each_kind_of_arm_changes_what_it_says(
    exp_server: RecsvcServer, exp_stub: pb_grpc.PushRecommenderStub, known_user: str, only: object
) -> None:
    now = (datetime.now(UTC) + timedelta(days=40)).replace(hour=1, minute=30, second=0, microsecond=0)
    user = clone_user(exp_server, known_user, f"arms-{uuid.uuid4().hex[:12]}")
    use = only  # type: ignore[assignment]

    use("send_time_policy", "fixed_20")  # type: ignore[operator]
    r = _recommend(exp_stub, user, now, trigger=pb.TRIGGER_SCHEDULED, write_copy=False)
    assert r.arm == "fixed_20" and r.candidates[0].send_time.local_hour == 20

    use("channel_policy", "sms")  # type: ignore[operator]
    r = _recommend(exp_stub, user, now + timedelta(seconds=1), write_copy=False)
    assert {c.channel for c in r.candidates} == {pb.CHANNEL_SMS}

    use("recs_source", "popular")  # type: ignore[operator]
    r = _recommend(exp_stub, user, now + timedelta(seconds=2), write_copy=False)
    stats = exp_server.engine.models.recs._pipeline.stats  # type: ignore[attr-defined]
    row_of = exp_server.engine.models.recs._pipeline.items.row_of  # type: ignore[attr-defined]
    pops = [float(stats.pop[row_of[c.item.item_id]]) for c in r.candidates]
    assert [c.score for c in r.candidates] == pytest.approx(pops) and pops == sorted(pops, reverse=True)

    exp_id = use("holdout", "holdout")  # type: ignore[operator]
    r = _recommend(exp_stub, user, now + timedelta(seconds=3), write_copy=False)
    assert r.suppression.reason == pb.SUPPRESSION_REASON_HELD_OUT and exp_id in r.suppression.detail
    assert (r.experiment_id, r.arm) == (exp_id, "holdout")


def test_an_optimize_bandit_learns_from_a_click_reported_later(
    exp_server: RecsvcServer, exp_stub: pb_grpc.PushRecommenderStub, known_user: str, only: object
) -> None:
    only("copy_variant", "y", "optimize")  # type: ignore[operator]
    user = clone_user(exp_server, known_user, f"opt-{uuid.uuid4().hex[:12]}")
    now = datetime.now(UTC).replace(microsecond=0)
    r = _recommend(exp_stub, user, now, allowed_channels=[pb.CHANNEL_APP_PUSH], write_copy=True)
    assert not r.HasField("suppression") and r.arm in ("y", "z")
    send = exp_server.engine.outcomes.send(r.candidates[0].dedupe_key)
    assert send is not None and (send["experiment"], send["arm"]) == ("only-opt", r.arm)
    context = bandit_context("only-opt", send["stage"], send["send_trigger"], send["channel"], send["locale"])
    state = exp_server.engine.experiments.bandit.state
    before = state.params(context, variant_set_key(("y", "z")))[r.arm]
    click = _event(user, pb.EVENT_TYPE_PUSH_CLICKED, now + timedelta(minutes=3), r.candidates[0].dedupe_key)
    exp_stub.ReportEvents(pb.ReportEventsRequest(events=[click, click]), timeout=60)
    after = state.params(context, variant_set_key(("y", "z")))[r.arm]
    assert (after[0] - before[0], after[1] - before[1]) == (1.0, -1.0)


def test_outcomes_of_an_undeclared_experiment_are_invalid_argument(exp_stub: pb_grpc.PushRecommenderStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        exp_stub.GetOutcomes(pb.GetOutcomesRequest(experiment_id="nope"), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "experiment_id" in info.value.details() and "copy-ab" in info.value.details()


def test_a_campaign_under_one_experiment_names_each_users_arm(
    exp_server: RecsvcServer, trained: Trained, known_user: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = [_user(exp_server, known_user, arm=arm) for arm in ("a", "b")]
    users.append(_user(exp_server, known_user, held_out=True))
    (tmp_path / "users.txt").write_text("\n".join(users) + "\n", encoding="utf-8")
    s = exp_server.engine.settings
    config = tmp_path / "recsvc.toml"
    config.write_text(
        f'[paths]\nstore = "{s.paths.store}"\nmodels_dir = "{s.paths.models_dir}"\n'
        f'[copy]\nbase_url = "{s.copy.base_url}"\ntimeout_s = 0.5\nmax_retries = 0\n'
        "[global_control]\nshare = 0.2\n"
        '[[experiments]]\nid = "copy-ab"\ndecision = "copy_variant"\nprimary_metric = "click_rate"\n'
        'arms = [{ name = "a", weight = 0.5 }, { name = "b", weight = 0.5 }]\n'
        '[[experiments]]\nid = "other"\ndecision = "recs_source"\nprimary_metric = "click_rate"\n'
        'arms = [{ name = "model", weight = 0.5 }, { name = "popular", weight = 0.5 }]\n',
        encoding="utf-8",
    )
    out = tmp_path / "campaign.parquet"
    argv = ["campaign", "--config", str(config), "-q", "--out", str(out), "--users", str(tmp_path / "users.txt")]
    assert main([*argv, "--experiment", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "experiment" in err[0] and "copy-ab" in err[0]
    assert main([*argv, "--experiment", "copy-ab", "--copy"]) == 0
    rows = pd.read_parquet(out).drop_duplicates("user_id").set_index("user_id")
    assert list(rows.loc[users, "arm"]) == ["a", "b", ""]
    assert list(rows.loc[users[:2], "experiment"]) == ["copy-ab", "copy-ab"]
    assert rows.loc[users[2], "suppressed"] == "held_out"


def _api_experiment(exp_id: str, **kw: object) -> pb.Experiment:
    values: dict[str, object] = {
        "id": exp_id,
        "decision": pb.EXPERIMENT_DECISION_HOLDOUT,
        "arms": [pb.ExperimentArm(name="holdout", weight=1.0)],
        "primary_metric": pb.EXPERIMENT_METRIC_CONVERSION_RATE,
        "guardrail_metrics": [pb.EXPERIMENT_METRIC_UNSUBSCRIBE_RATE],
        "segment": "stage in awareness,interest,purchase,loyal,churning",
    }
    values.update(kw)
    return pb.Experiment(**values)  # type: ignore[arg-type]


def test_an_experiment_declared_through_the_api_applies_and_stops(
    exp_server: RecsvcServer, exp_stub: pb_grpc.PushRecommenderStub, known_user: str, only: object
) -> None:
    only("copy_variant", "unused")  # type: ignore[operator]  # no other experiment competes for the users
    exp_server.engine.settings = exp_server.engine.settings.with_overrides(experiments=())
    exp_id = f"api-{uuid.uuid4().hex[:8]}"
    made = exp_stub.CreateExperiment(pb.CreateExperimentRequest(experiment=_api_experiment(exp_id)), timeout=30)
    assert made.running and not made.from_settings and made.start.seconds > 0
    listed = {e.id: e for e in exp_stub.ListExperiments(pb.ListExperimentsRequest(), timeout=30).experiments}
    assert listed[exp_id].decision == pb.EXPERIMENT_DECISION_HOLDOUT
    assert list(listed[exp_id].guardrail_metrics) == [pb.EXPERIMENT_METRIC_UNSUBSCRIBE_RATE]
    user = clone_user(exp_server, known_user, f"api-{uuid.uuid4().hex[:12]}")
    now = made.start.ToDatetime(tzinfo=UTC) + timedelta(seconds=1)
    r = _recommend(exp_stub, user, now, write_copy=False)
    assert (r.experiment_id, r.arm, r.suppression.reason) == (exp_id, "holdout", pb.SUPPRESSION_REASON_HELD_OUT)
    stopped = exp_stub.StopExperiment(pb.StopExperimentRequest(experiment_id=exp_id), timeout=30)
    assert not stopped.running
    r = _recommend(exp_stub, user, now + timedelta(seconds=5), write_copy=False)
    assert r.experiment_id == "" and r.suppression.reason != pb.SUPPRESSION_REASON_HELD_OUT
    with pytest.raises(grpc.RpcError) as info:
        exp_stub.CreateExperiment(pb.CreateExperimentRequest(experiment=_api_experiment(exp_id)), timeout=30)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "experiment.id" in info.value.details()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"arms": [pb.ExperimentArm(name="a", weight=0.7), pb.ExperimentArm(name="holdout", weight=0.7)]},
         "experiment.arms[1].weight"),
        ({"primary_metric": pb.EXPERIMENT_METRIC_UNSPECIFIED}, "experiment.primary_metric"),
        ({"guardrail_metrics": [pb.EXPERIMENT_METRIC_SEND, 99]}, "experiment.guardrail_metrics[1]"),
        ({"decision": pb.EXPERIMENT_DECISION_UNSPECIFIED}, "experiment.decision"),
        ({"id": ""}, "experiment.id"),
        ({"segment": "mood=happy"}, "experiment.segment"),
        ({"arms": [pb.ExperimentArm(name="a", weight=1.0)]}, "experiment.arms"),
        ({"mode": pb.EXPERIMENT_MODE_OPTIMIZE}, "experiment.mode"),
        ({"start": Timestamp(seconds=1_800_000_000), "stop": Timestamp(seconds=1_700_000_000)}, "experiment.stop"),
    ],
)  # fmt: skip
def test_a_bad_experiment_is_invalid_argument_naming_the_field(
    exp_stub: pb_grpc.PushRecommenderStub, changes: dict[str, object], field: str
) -> None:
    req = pb.CreateExperimentRequest(experiment=_api_experiment(f"bad-{uuid.uuid4().hex[:8]}", **changes))
    with pytest.raises(grpc.RpcError) as info:
        exp_stub.CreateExperiment(req, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert field in info.value.details()


def test_stopping_an_unknown_or_file_experiment_names_the_field(exp_stub: pb_grpc.PushRecommenderStub) -> None:
    for exp_id, code in [("nope", grpc.StatusCode.NOT_FOUND), ("copy-ab", grpc.StatusCode.FAILED_PRECONDITION)]:
        with pytest.raises(grpc.RpcError) as info:
            exp_stub.StopExperiment(pb.StopExperimentRequest(experiment_id=exp_id), timeout=30)
        assert info.value.code() == code and "experiment_id" in info.value.details()

"""Experiments declared through the API, on SQLite and PostgreSQL: shared by every handle on the store,
ids unique across the settings file and the API, stopped in place, and refused with the field named."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from recsvc.errors import FailedPrecondition, InvalidArgument, NotFound
from recsvc.experiments.definitions import Arm, Experiment, experiment_from_mapping, experiment_to_mapping
from recsvc.experiments.registry import ExperimentRegistry
from recsvc.store import EventStore, open_store

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
FILE_EXP = Experiment(
    id="from-file", decision="holdout", arms=(Arm("pushed", 0.9), Arm("holdout", 0.1)), primary_metric="send"
)


def _exp(id_: str, **kw: object) -> Experiment:
    arms = (Arm("a", 0.5), Arm("b", 0.5))
    return Experiment(id=id_, decision="copy_variant", arms=arms, primary_metric="click_rate", **kw)  # type: ignore[arg-type]


@pytest.fixture
def stores(store_location: str) -> Iterator[list[EventStore]]:
    opened = [open_store(store_location), open_store(store_location)]
    yield opened
    for s in opened:
        s.close()


def test_an_experiment_created_through_one_handle_is_seen_by_another(stores: list[EventStore]) -> None:
    one = ExperimentRegistry(stores[0], lambda: (FILE_EXP,), refresh_s=0.0)
    other = ExperimentRegistry(stores[1], lambda: (FILE_EXP,), refresh_s=3600.0)
    assert other.all() == (FILE_EXP,)
    made = one.create(_exp("api-1", segment="tier=high"), NOW)
    assert made.start == NOW and made.segment == "tier=high"
    assert other.all() == (FILE_EXP,)  # its copy is younger than refresh_s
    assert other.stored(fresh=True) == (made,)
    assert [e.id for e in one.all()] == ["from-file", "api-1"]
    assert one.from_settings("from-file") and not one.from_settings("api-1")


def test_ids_are_unique_across_the_file_and_the_api(stores: list[EventStore]) -> None:
    reg = ExperimentRegistry(stores[0], lambda: (FILE_EXP,), refresh_s=0.0)
    reg.create(_exp("api-1"), NOW)
    for taken in ("api-1", "from-file"):
        with pytest.raises(FailedPrecondition) as err:
            reg.create(_exp(taken), NOW)
        assert err.value.field == "experiment.id"


def test_stopping_ends_an_api_experiment_and_leaves_the_file_alone(stores: list[EventStore]) -> None:
    reg = ExperimentRegistry(stores[0], lambda: (FILE_EXP,), refresh_s=0.0)
    reg.create(_exp("api-1"), NOW)
    stopped = reg.stop("api-1", NOW + timedelta(days=1))
    assert stopped.stop == NOW + timedelta(days=1) and not stopped.running_at(NOW + timedelta(days=2))
    assert reg.stop("api-1", NOW + timedelta(days=5)).stop == NOW + timedelta(days=1)  # stays as it was
    assert reg.stored()[0].stop == NOW + timedelta(days=1)
    for exp_id, error, field in [
        ("from-file", FailedPrecondition, "experiment_id"),
        ("nope", NotFound, "experiment_id"),
    ]:
        with pytest.raises(error) as err:
            reg.stop(exp_id, NOW)
        assert err.value.field == field
    reg.create(_exp("later", start=NOW + timedelta(days=3)), NOW)
    with pytest.raises(FailedPrecondition) as err:
        reg.stop("later", NOW + timedelta(days=1))
    assert err.value.field == "at"


def test_a_bad_experiment_is_refused_naming_the_field(stores: list[EventStore]) -> None:
    reg = ExperimentRegistry(stores[0], lambda: (), refresh_s=0.0)
    bad = Experiment(id="x", decision="copy_variant", arms=(Arm("a", 0.7), Arm("b", 0.7)), primary_metric="click_rate")
    with pytest.raises(InvalidArgument) as err:
        reg.create(bad, NOW)
    assert err.value.field == "experiment.arms[1].weight"
    assert reg.all() == ()


def test_the_api_experiments_can_be_switched_off(stores: list[EventStore]) -> None:
    ExperimentRegistry(stores[0], lambda: (), refresh_s=0.0).create(_exp("api-1"), NOW)
    assert ExperimentRegistry(stores[1], lambda: (FILE_EXP,), use_stored=False).all() == (FILE_EXP,)


def test_an_experiment_reads_back_as_it_was_written() -> None:
    exp = _exp("e", start=NOW, stop=NOW + timedelta(days=7), segment="stage=loyal", salt="s2", mode="optimize")
    assert experiment_from_mapping(experiment_to_mapping(exp), "e") == exp

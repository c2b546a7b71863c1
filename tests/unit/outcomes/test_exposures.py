"""Exposures and day-N retention on SQLite and PostgreSQL: the first exposure per user and experiment
stands, a user counts for day N once that day has passed, and only the user's own activity counts."""

from __future__ import annotations

from datetime import timedelta

from recsvc.outcomes import GLOBAL_EXPERIMENT, Exposure
from tests.unit.outcomes.conftest import T0, OutcomeDbFactory, event, record

D = timedelta(days=1)
H = timedelta(hours=1)


def _rates(rows: list, day: int) -> dict[str, tuple[int, int]]:
    return {r.arm: (r.users, r.active) for r in rows if r.day == day}


def test_retention_compares_pushed_and_held_out_users_by_their_own_activity(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs()
    db.log.expose(
        [
            Exposure("a", GLOBAL_EXPERIMENT, "pushed", False, T0),
            Exposure("b", GLOBAL_EXPERIMENT, "pushed", False, T0),
            Exposure("c", GLOBAL_EXPERIMENT, "global_control", True, T0),
            Exposure("late", GLOBAL_EXPERIMENT, "pushed", False, T0 + 5 * D),  # day 1 not over yet
        ]
    )
    db.log.expose([Exposure("a", GLOBAL_EXPERIMENT, "global_control", True, T0 + D)])  # the first one stands
    db.report(
        event("a1", "view", T0 + D + H, user="a"),  # day 1
        event("a7", "purchase", T0 + 7 * D + H, user="a"),  # day 7
        event("b1", "push_clicked", T0 + D + H, user="b"),  # an answer to a push is not activity of one's own
        event("c1", "app_open", T0 + D + 2 * H, user="c"),
        event("c0", "app_open", T0 + 2 * H, user="c"),  # day 0 counts for nothing
        event("late1", "view", T0 + 6 * D + H, user="late"),
    )
    rows = db.log.retention(GLOBAL_EXPERIMENT, now=T0 + 5 * D + 12 * H)
    assert _rates(rows, 1) == {"pushed": (2, 1), "global_control": (1, 1)}
    assert _rates(rows, 7) == {}  # nobody's day 7 has passed
    held = {r.arm: r.held_out for r in rows}
    assert held == {"pushed": False, "global_control": True}
    later = db.log.retention(GLOBAL_EXPERIMENT, now=T0 + 9 * D)
    assert _rates(later, 1) == {"pushed": (3, 2), "global_control": (1, 1)}
    assert _rates(later, 7) == {"pushed": (2, 1), "global_control": (1, 0)}
    assert [r.rate for r in later if r.day == 7 and r.arm == "pushed"] == [0.5]
    cohort = db.log.retention(GLOBAL_EXPERIMENT, now=T0 + 9 * D, cohort=(T0 + D, T0 + 9 * D))
    assert _rates(cohort, 1) == {"pushed": (1, 1)}  # only "late" was first exposed in that range


def test_exposures_of_experiments_are_kept_apart(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs()
    db.log.expose([Exposure("a", "exp1", "holdout", True, T0), Exposure("a", "exp2", "b", False, T0)])
    db.report(event("a1", "view", T0 + D + H, user="a"))
    assert _rates(db.log.retention("exp1", now=T0 + 3 * D), 1) == {"holdout": (1, 1)}
    assert _rates(db.log.retention("exp2", now=T0 + 3 * D), 1) == {"b": (1, 1)}
    assert db.log.retention(GLOBAL_EXPERIMENT, now=T0 + 3 * D) == []


def test_only_a_sends_first_click_is_marked_first(outcome_dbs: OutcomeDbFactory) -> None:
    db = outcome_dbs()
    db.book(record("k1"))
    first = db.report(event("c1", "push_clicked", T0 + 2 * H, dedupe_key="k1"))
    again = db.report(event("c2", "push_clicked", T0 + 3 * H, dedupe_key="k1"))
    opened = db.report(event("o1", "push_opened", T0 + 3 * H, dedupe_key="k1"))
    assert [a.first_click for a in first + again + opened] == [True, False, False]

"""Bandit state in the shared store, on SQLite and PostgreSQL: atomic increments, restarts, resets."""

from __future__ import annotations

import threading

from recsvc.experiments.bandit import BanditConfig, ThompsonBandit, variant_set_key
from recsvc.experiments.bandit_store import open_bandit_state
from recsvc.store import open_store

CTX = "interest|scheduled|app_push|en-US"
VARIANTS = ["short", "long"]


def test_increments_from_two_threads_are_never_lost(store_location: str) -> None:
    store = open_store(store_location)
    errors: list[BaseException] = []
    per_thread = 150

    def work(variant: str) -> None:
        state = open_bandit_state(store)
        try:
            bandit = ThompsonBandit(state)
            for _ in range(per_thread):
                bandit.update(CTX, variant, 1, 3, VARIANTS)  # both threads also hit the one shared row "short"
                bandit.update(CTX, "short", 1, 1, VARIANTS)
        except BaseException as exc:
            errors.append(exc)
        finally:
            state.close()

    threads = [threading.Thread(target=work, args=(v,)) for v in VARIANTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    params = open_bandit_state(store).params(CTX, variant_set_key(VARIANTS))
    # "short": prior 1 + 150 * (1 + 1) from its own thread + 150 * 1 from the other; beta 1 + 150 * 2.
    assert params["short"] == (1.0 + 450, 1.0 + 300)
    assert params["long"] == (1.0 + 150, 1.0 + 300)
    store.close()


def test_state_survives_a_restart_and_resets_on_a_new_variant_set(store_location: str) -> None:
    store = open_store(store_location)
    ThompsonBandit(open_bandit_state(store), BanditConfig(prior_alpha=2.0, prior_beta=8.0)).update(
        CTX, "long", 3, 10, VARIANTS
    )
    store.close()
    store = open_store(store_location)
    bandit = ThompsonBandit(open_bandit_state(store), BanditConfig(prior_alpha=2.0, prior_beta=8.0))
    a, b = bandit.posterior(CTX, VARIANTS)
    assert a.tolist() == [2.0, 5.0] and b.tolist() == [8.0, 15.0]
    a, b = bandit.posterior(CTX, [*VARIANTS, "emoji"])
    assert a.tolist() == [2.0, 2.0, 2.0] and b.tolist() == [8.0, 8.0, 8.0]
    store.close()

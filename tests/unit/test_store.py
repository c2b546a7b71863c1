from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd

from recsvc.store import Store, open_store


def _row(eid: str, user: str = "u1", etype: str = "view") -> dict[str, object]:
    return {"event_id": eid, "user_id": user, "ts": 1_700_000_000.0, "event_type": etype, "item_id": "i1"}


def test_events_are_idempotent(store_location: str) -> None:
    s = open_store(store_location)
    res, flags = s.add_events([_row("a"), _row("b"), _row("a")])
    assert (res.accepted, res.duplicate) == (2, 1)
    assert flags == [True, True, False]
    res2, _ = s.add_events([_row("a")])
    assert res2.duplicate == 1
    ev = s.events_for_user("u1")
    assert len(ev) == 2 and str(ev["ts"].dt.tz) == "UTC"
    s.close()


def test_event_without_id_gets_a_stable_one(store_location: str) -> None:
    s = open_store(store_location)
    row = _row("")
    row["event_id"] = None
    assert s.add_events([row])[0].accepted == 1
    assert s.add_events([dict(row)])[0].duplicate == 1


def test_items_users_roundtrip_with_attributes(store_location: str) -> None:
    s = open_store(store_location)
    s.upsert_items(pd.DataFrame([{"item_id": "i1", "title": "Tea", "price": 3.0, "in_stock": True, "title_zh": "茶"}]))
    assert s.get_item("i1")["attributes"] == '{"title_zh": "茶"}'  # type: ignore[index]
    s.upsert_users(pd.DataFrame([{"user_id": "u1", "timezone": "Asia/Shanghai", "push_opt_in": False}]))
    u = s.get_user("u1")
    assert u is not None and u["timezone"] == "Asia/Shanghai" and u["push_opt_in"] == 0


def test_acknowledged_events_survive_kill_9(store_location: str) -> None:
    """A child process writes, acknowledges, then dies by SIGKILL; the rows are still there."""
    code = (
        "import os, signal, sys\n"
        "from recsvc.store import open_store\n"
        f"s = open_store({store_location!r})\n"
        "rows = [{'event_id': f'e{i}', 'user_id': 'u', 'ts': 1.7e9 + i, 'event_type': 'view'} for i in range(50)]\n"
        "s.add_events(rows)\n"
        "print('ack', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    assert out.stdout.strip() == "ack"
    assert out.returncode != 0
    assert open_store(store_location).count("events") == 50


def test_item_stamps_grow_in_commit_order_and_changes_are_found(store_location: str) -> None:
    a = open_store(store_location)
    b = open_store(store_location)  # a second process's handle on the same store
    _, s1 = a.upsert_items_stamped(pd.DataFrame([{"item_id": "i1", "title": "Tea"}]))
    mark = a.items_watermark()
    assert mark == s1
    _, s2 = b.upsert_items_stamped(pd.DataFrame([{"item_id": "i2", "title": "Coffee"}]))
    _, s3 = a.upsert_items_stamped(pd.DataFrame([{"item_id": "i1", "title": "Green tea"}]))
    assert s1 < s2 < s3
    changed = a.items_changed_since(mark)
    assert changed["item_id"].tolist() == ["i2", "i1"] and changed["title"].tolist() == ["Coffee", "Green tea"]
    assert a.items_changed_since(s3).empty


def _events(*specs: tuple[str, str, str | None]) -> list[dict[str, object]]:
    """Events from ``(user_id, event_type, item_id)``, one second apart."""
    return [
        {"event_id": f"e{i}", "user_id": u, "ts": 1_700_000_000.0 + i, "event_type": t, "item_id": item}
        for i, (u, t, item) in enumerate(specs)
    ]


def test_most_active_users_rank_by_event_count_optionally_of_one_type(store_location: str) -> None:
    s = open_store(store_location)
    assert s.most_active_users() == []
    s.add_events(
        _events(
            *[("viewer", "view", "i1")] * 4,
            *[("buyer", "purchase", "i1")] * 2,
            ("buyer", "view", "i2"),
            ("once", "purchase", "i2"),
            ("once", "view", "i2"),
        )
    )
    assert s.most_active_users(limit=3) == ["viewer", "buyer", "once"]
    assert s.most_active_users() == ["viewer"]
    assert s.most_active_users(limit=5, offset=1) == ["buyer", "once"]
    assert s.most_active_users(event_type="purchase", limit=5) == ["buyer", "once"]
    assert s.most_active_users(event_type="unsubscribe") == []
    s.close()


def test_most_evented_items_are_catalog_items_ranked_by_their_events(store_location: str) -> None:
    s = open_store(store_location)
    s.upsert_items(
        pd.DataFrame(
            [
                {
                    "item_id": "tea",
                    "title": "Tea",
                    "price": 3.0,
                    "currency": "CNY",
                    "image_url": "https://x/t.jpg",
                    "title_zh": "茶",
                },
                {"item_id": "coffee", "title": "Coffee", "price": 5.0, "currency": "CNY"},
                {"item_id": "cake", "title": "Cake", "price": 9.0, "currency": "CNY"},
            ]
        )
    )
    assert s.most_evented_items(5) == []
    s.add_events(
        _events(
            *[("a", "view", "coffee")] * 3,
            ("a", "view", "tea"),
            ("b", "purchase", "tea"),
            *[("b", "view", "gone-from-catalog")] * 9,
            ("b", "app_open", None),
        )
    )
    top = s.most_evented_items(5)
    assert [(r["item_id"], r["n"]) for r in top] == [("coffee", 3), ("tea", 2)]
    assert top[1] == {
        "item_id": "tea",
        "title": "Tea",
        "price": 3.0,
        "currency": "CNY",
        "image_url": "https://x/t.jpg",
        "video_url": "",
        "audio_url": "",
        "attributes": '{"title_zh": "茶"}',
        "n": 2,
    }
    assert [r["item_id"] for r in s.most_evented_items(1)] == ["coffee"]
    s.close()


def test_count_events_counts_one_event_type(store_location: str) -> None:
    s = open_store(store_location)
    s.add_events(_events(("a", "unsubscribe", None), ("b", "unsubscribe", None), ("a", "view", "i1")))
    assert (s.count_events("unsubscribe"), s.count_events("view"), s.count_events("purchase")) == (2, 1, 0)
    s.close()


def _tables(db: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_new_store_has_no_meta_table_and_a_file_with_one_still_opens(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.sqlite"
    Store(fresh).close()
    assert _tables(fresh) >= {"users", "items", "events"} and "meta" not in _tables(fresh)
    old = tmp_path / "old.sqlite"
    with contextlib.closing(sqlite3.connect(old)) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema', '1')")
        conn.commit()
    s = Store(old)
    assert s.add_events(_events(("a", "view", "i1")))[0].accepted == 1
    assert s.count("events") == 1 and "meta" in _tables(old)
    s.close()


def test_history_reads_agree_on_both_backends(store_location: str) -> None:
    s = open_store(store_location)
    s.add_events(_events(("a", "view", "i1"), ("a", "purchase", "i2"), ("b", "view", "i1")))
    assert [r[:2] for r in s.history_rows("a")] == [("i1", "view"), ("i2", "purchase")]
    assert s.history_signature("a") == (2, 1_700_000_001.0) and s.history_signature("nobody") == (0, 0.0)
    assert s.history_signatures() == {"a": (2, 1_700_000_001.0), "b": (1, 1_700_000_002.0)}
    rows = s.lifecycle_rows(["a", "b"])
    assert [(r[0], r[2], r[3]) for r in rows] == [("a", "view", "i1"), ("a", "purchase", "i2"), ("b", "view", "i1")]
    assert [r[2] for r in s.lifecycle_rows(["a"], before=1_700_000_001.0)] == ["view"]
    assert s.lifecycle_rows([]) == [] and s.max_event_seq() == 3
    s.close()


def test_user_and_signature_is_both_reads_in_one(store_location: str) -> None:
    s = open_store(store_location)
    s.add_events(_events(("a", "view", "i1"), ("a", "purchase", "i2")))
    s.upsert_users(pd.DataFrame([{"user_id": "a", "timezone": "Asia/Shanghai"}, {"user_id": "c", "locale": "zh-CN"}]))
    # a user with a row and events, with a row only, with events only, and with neither
    for uid in ("a", "c", "nobody"):
        assert s.user_and_signature(uid) == (s.get_user(uid), s.history_signature(uid))
    s.add_events([_row("x1", user="b")])
    assert s.user_and_signature("b") == (None, s.history_signature("b")) and s.history_signature("b")[0] == 1
    assert s.user_and_signature("a")[0]["timezone"] == "Asia/Shanghai"  # type: ignore[index]
    assert s.user_and_signature("bad\x00id") == (None, (0, 0.0))
    s.close()


def test_item_lookups_agree_on_both_backends(store_location: str) -> None:
    s = open_store(store_location)
    assert s.some_item_id() is None and s.items_watermark() == 0.0
    s.upsert_items(pd.DataFrame([{"item_id": "b", "title": "B", "in_stock": False}, {"item_id": "a", "title": "A"}]))
    assert s.some_item_id() == "a"
    assert set(s.items_by_id(["a", "zz", "a"])) == {"a"}
    frame = s.items_frame()
    assert frame["item_id"].tolist() == ["a", "b"] and frame["in_stock"].tolist() == [True, False]
    item = s.get_item("a")
    assert item is not None and item["description"] == "" and item["attributes"] == "{}"
    assert s.get_item("zz") is None and s.get_user("nobody") is None
    assert s.count("items") == 2
    s.close()


def test_import_events_is_idempotent_and_derives_once_per_new_event(store_location: str) -> None:
    s = open_store(store_location)
    frame = pd.DataFrame(_events(("a", "view", "i1"), ("a", "unsubscribe", None), ("b", "view", "i2")))
    frame["ts"] = pd.to_datetime(frame["ts"], unit="s", utc=True)
    for col in ("quantity", "value", "lat", "lon"):
        frame[col] = float("nan")
    for col in ("channel", "campaign_id", "variant", "city", "payload"):
        frame[col] = None
    frame["ts_offset_min"] = 0
    seen: list[str] = []

    def derive(_cur: object, rows: list[dict[str, object]]) -> None:
        seen.extend(str(r["event_id"]) for r in rows)

    res = s.import_events(frame, derive=derive)
    assert (res.accepted, res.duplicate) == (3, 0) and seen == ["e0", "e1", "e2"]
    assert s.import_events(frame, derive=derive).duplicate == 3 and len(seen) == 3
    ev = s.events_for_user("a")
    assert ev["event_type"].tolist() == ["view", "unsubscribe"] and ev["ts"].iloc[0].timestamp() == 1_700_000_000.0
    assert s.replay_events(derive, after_seq=0, event_types=("unsubscribe",)) == 3 and seen[-1] == "e1"
    s.close()


def test_a_key_no_row_can_have_matches_nothing(store_location: str) -> None:
    s = open_store(store_location)
    s.add_events(_events(("a", "view", "i1")))
    assert s.events_for_user("\x00nobody").empty and s.get_user("\x00x") is None and s.get_item("\x00") is None
    s.close()


def test_users_and_signatures_are_each_users_own_reads(store_location: str) -> None:
    s = open_store(store_location)
    s.add_events(_events(("a", "view", "i1"), ("a", "purchase", "i2")))
    s.add_events([_row("x1", user="b")])
    s.upsert_users(pd.DataFrame([{"user_id": "a", "timezone": "Asia/Shanghai"}, {"user_id": "c", "locale": "zh-CN"}]))
    # a row and events, events only, a row only, neither, a repeated id and a key no row can match
    ids = ["a", "b", "c", "nobody", "a", "bad\x00id"]
    found = s.users_and_signatures(ids)
    assert list(found) == ["a", "b", "c", "nobody", "bad\x00id"]
    assert found == {u: s.user_and_signature(u) for u in ids}
    assert s.users_and_signatures([]) == {}
    s.close()


def test_latest_rows_of_many_users_are_each_users_own_reads(store_location: str) -> None:
    s = open_store(store_location)
    fb = json.dumps({"rating": 1, "reasons": ["too_many"]})
    rows = [_row(f"a{n}", user="a") | {"ts": 1_700_000_000.0 + n // 3, "item_id": f"i{n}"} for n in range(9)]
    rows += [_row("a-f1", user="a") | {"event_type": "feedback", "payload": fb, "ts": 1_700_000_001.0}]
    rows += [_row("a-f2", user="a") | {"event_type": "feedback", "payload": fb, "ts": 1_700_000_001.0}]
    rows += [_row("b1", user="b"), _row("c-f", user="c") | {"event_type": "feedback", "payload": fb}]
    s.add_events(rows)  # events of one time (ties), more than the limits, feedback only, none
    ids = ["a", "b", "c", "nobody", "a", "bad\x00id"]
    for h_limit, f_limit in ((500, 100), (4, 1)):
        history, feedback = s.latest_rows_of(ids, history_limit=h_limit, feedback_limit=f_limit)
        assert list(history) == list(feedback) == list(dict.fromkeys(ids))
        assert history == {u: s.history_rows(u, limit=h_limit) for u in ids}
        assert feedback == {u: s.feedback_rows(u, limit=f_limit) for u in ids}
    assert len(s.latest_rows_of(["a"], history_limit=4)[0]["a"]) == 4
    assert s.latest_rows_of([]) == ({}, {})
    s.close()

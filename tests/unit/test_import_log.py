"""``recsvc db import``: a log loaded piece by piece equals the whole-file import, and loads once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from recsvc.data.convert import load_dataset
from recsvc.data.demo import generate_demo
from recsvc.settings import load_settings
from recsvc.training import _import_into_store, import_log


def _settings(tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    config = tmp_path / f"{name}.toml"
    config.write_text(f'[paths]\nstore = "{tmp_path / name}.db"\nmodels_dir = "{tmp_path / "models"}"\n')
    return load_settings(str(config))


def _contents(settings) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Every table the import writes, as sorted rows without the store's own sequence numbers."""
    with sqlite3.connect(settings.paths.store) as conn:
        return {
            "events": conn.execute(
                "SELECT user_id, ts, event_type, item_id, event_id FROM events ORDER BY 5, 2"
            ).fetchall(),
            "users": conn.execute("SELECT COUNT(*) FROM users").fetchone(),
            "unsubscribes": conn.execute("SELECT * FROM unsubscribes ORDER BY 1, 2").fetchall(),
            "feedback": conn.execute("SELECT * FROM feedback ORDER BY 1, 2, 3").fetchall(),
        }


def test_a_log_imported_in_pieces_equals_the_whole_import_and_loads_once(tmp_path: Path) -> None:
    demo = generate_demo(tmp_path / "demo", n_users=300, days=30, progress=False)
    whole, pieces = _settings(tmp_path, "whole"), _settings(tmp_path, "pieces")
    # the whole file at once, as `recsvc train --import-store` loads it
    whole_ds = load_dataset(demo.events, items=demo.items, users=demo.users)
    _import_into_store(whole, whole_ds, str(demo.items), str(demo.users))
    first = import_log(
        pieces, events=str(demo.events), items=str(demo.items), users=str(demo.users), chunk_rows=997, progress=False
    )
    assert first["events_accepted"] > 5 * 997  # several pieces
    loaded = _contents(pieces)
    assert loaded["feedback"] and loaded["unsubscribes"]  # the derived rows are compared too
    assert loaded == _contents(whole)
    again = import_log(pieces, events=str(demo.events), items=None, users=None, chunk_rows=5000, progress=False)
    assert again["events_accepted"] == 0 and again["events_already_there"] == first["events_accepted"]

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recsvc.data.convert import cdnow_events, load_dataset
from recsvc.data.io import read_events, read_items, read_users, write_table
from recsvc.errors import DataError


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_events_csv_iso_unix_and_offsets(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "e.csv",
        "user_id,ts,event_type,item_id,value,extra\n"
        "u1,2024-01-01T08:00:00+08:00,view,i1,,x\n"
        "u1,1704096000,purchase,i1,9.5,y\n"
        "u2,2024-01-01T01:00:00Z,app_open,,,z\n",
    )
    ev = read_events(p)
    assert list(ev["user_id"]) == ["u1", "u2", "u1"]  # sorted by time
    assert ev["ts"].dt.tz is not None
    first = ev.iloc[0]
    assert first["ts"] == pd.Timestamp("2024-01-01T00:00:00Z")
    assert first["ts_offset_min"] == 480
    assert ev.loc[ev.event_type == "purchase", "value"].iloc[0] == 9.5


def test_events_jsonl_and_parquet_roundtrip(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "e.jsonl",
        '{"user_id": "a", "ts": "2024-02-01T10:00:00Z", "event_type": "view", "payload": {"query": "tea"}}\n',
    )
    ev = read_events(p)
    assert ev["payload"].iloc[0] == '{"query": "tea"}'
    write_table(ev, tmp_path / "e.parquet")
    back = read_events(tmp_path / "e.parquet")
    assert back["ts"].iloc[0] == ev["ts"].iloc[0]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("user_id,event_type\nu1,view\n", "column 'ts'"),
        ("user_id,ts,event_type\nu1,yesterday,view\n", "row 1, column 'ts'"),
        (
            "user_id,ts,event_type\nu1,2024-01-01T00:00:00Z,view\nu1,2024-01-01T00:00:00Z,teleport\n",
            "row 2, column 'event_type'",
        ),
    ],
)
def test_bad_events_name_row_and_column(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(DataError) as info:
        read_events(_write(tmp_path, "bad.csv", text))
    assert needle in str(info.value)
    assert "bad.csv" in str(info.value)


def test_duplicate_event_ids_are_ignored(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "e.csv",
        "event_id,user_id,ts,event_type\n1,u,2024-01-01T00:00:00Z,view\n1,u,2024-01-01T00:00:00Z,view\n",
    )
    assert len(read_events(p)) == 1


def test_items_and_users(tmp_path: Path) -> None:
    items = read_items(_write(tmp_path, "i.csv", "item_id,title,price,in_stock,title_zh\na,Tea,3.5,false,茶\n"))
    assert items["in_stock"].tolist() == [False]
    assert items["price"].tolist() == [3.5]
    with pytest.raises(DataError, match="duplicate item_id"):
        read_items(_write(tmp_path, "d.csv", "item_id,title\na,x\na,y\n"))
    with pytest.raises(DataError, match="column 'title'"):
        read_items(_write(tmp_path, "n.csv", "item_id,title\na,\n"))
    users = read_users(_write(tmp_path, "u.csv", "user_id,timezone,push_opt_in\nu1,Asia/Shanghai,0\n"))
    assert users["push_opt_in"].tolist() == [False]
    assert users["sms_opt_in"].tolist() == [True]


def test_items_keep_their_translations_and_drop_other_extra_columns(tmp_path: Path) -> None:
    items = read_items(
        _write(
            tmp_path,
            "i.csv",
            "item_id,title,title_zh,description_zh-CN,brand\na,Tea,茶 ,散装茶叶。,X\nb,Cup,,,Y\n",
        )
    )
    assert list(items.columns[-2:]) == ["title_zh", "description_zh-CN"] and "brand" not in items.columns
    assert items["title_zh"].tolist() == ["茶", ""] and items["description_zh-CN"].tolist() == ["散装茶叶。", ""]


def test_an_item_price_that_is_not_a_number_is_an_error_not_a_blank(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"row 2, column 'price'.*not a number: 'abc'"):
        read_items(_write(tmp_path, "p.csv", "item_id,title,price\na,Tea,3.5\nb,Cup,abc\nc,Pot,\n"))
    ok = read_items(_write(tmp_path, "q.csv", "item_id,title,price\na,Tea,3.5\nc,Pot,\n"))
    assert ok["price"].iloc[0] == 3.5 and pd.isna(ok["price"].iloc[1])


def test_real_converters(real_data: Path) -> None:
    cd = cdnow_events(real_data / "cdnow" / "CDNOW_sample.txt")
    assert cd["user_id"].nunique() == 2357
    assert set(cd["event_type"]) == {"purchase"}
    ml = load_dataset(real_data / "ml-100k")
    assert len(ml.events) == 100_000
    assert ml.items is not None and len(ml.items) == 1682
    assert ml.items["title"].iloc[0] == "Toy Story (1995)"


def _events_csv(tmp_path: Path, n: int, *, bad_row: int | None = None) -> Path:
    lines = ["user_id,ts,event_type,item_id,event_id"]
    for i in range(n):
        kind = "teleport" if i == bad_row else "view"
        lines.append(f"u{i % 7},{1704067200 + 3600 * (n - i)},{kind},i{i % 5},e{i}")
    return _write(tmp_path, "e.csv", "\n".join(lines) + "\n")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_events_read_in_chunks_equal_the_whole_file(tmp_path: Path, suffix: str) -> None:
    from recsvc.data.io import read_events_chunks

    src = _events_csv(tmp_path, 25)
    path = src if suffix == ".csv" else tmp_path / f"e{suffix}"
    if suffix != ".csv":
        write_table(pd.read_csv(src, dtype=str), path)
    pieces = list(read_events_chunks(path, 10))
    assert [len(p) for p in pieces] == [10, 10, 5]
    assert all(p["ts"].is_monotonic_increasing for p in pieces)
    whole = read_events(path).sort_values("event_id").reset_index(drop=True)
    joined = pd.concat(pieces).sort_values("event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(joined, whole)


def test_a_bad_row_in_a_later_chunk_is_named_by_its_row_in_the_file(tmp_path: Path) -> None:
    from recsvc.data.io import read_events_chunks

    path = _events_csv(tmp_path, 25, bad_row=17)
    with pytest.raises(DataError, match=r"row 18, column 'event_type'.*teleport"):
        list(read_events_chunks(path, 10))

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.errors import InvalidArgument
from recsvc.server import fields


@pytest.mark.parametrize(
    ("payload", "ok"),
    [
        ('{"a": [1, {"b": 2}]}', True),
        ("[" * 32 + "]" * 32, True),
        ("[" * 33 + "]" * 33, False),
        ('{"k": "' + "[" * 100 + '"}', True),  # brackets inside a string do not nest
        ('{"k": "\\\\\\"' + "{" * 100 + '"}', True),  # nor after escaped quotes
        ('["\\\\", ' + "[" * 40 + "]" * 40 + "]", False),  # an escaped backslash closes no string
        ('{"a": Infinity}', False),
        ("{oops", False),
        ("x" * 16385, False),
        ('"' + "é" * 8193 + '"', False),  # 16 KiB counts UTF-8 bytes
    ],
)
def test_json_payload_depth_size_and_constants(payload: str, ok: bool) -> None:
    if ok:
        assert fields.json_payload(payload, "payload", 16384, 32) == payload
    else:
        with pytest.raises(InvalidArgument) as info:
            fields.json_payload(payload, "payload", 16384, 32)
        assert info.value.field == "payload"


@pytest.mark.parametrize(
    "ts",
    [
        Timestamp(seconds=-62135596800),  # year 1
        Timestamp(seconds=253402300799),  # year 9999
        Timestamp(seconds=2**62),
        Timestamp(seconds=946684799),  # one second before 2000
        Timestamp(seconds=1_700_000_000, nanos=1_000_000_000),
    ],
)
def test_timestamps_out_of_bounds_are_refused_by_name(ts: Timestamp) -> None:
    with pytest.raises(InvalidArgument) as info:
        fields.timestamp(ts, "context.now")
    assert info.value.field == "context.now"


def test_text_refuses_nul_and_long_values_and_strips() -> None:
    assert fields.text("  a b ", "f", 10) == "a b"
    for bad in ("a\x00", "x" * 11):
        with pytest.raises(InvalidArgument):
            fields.text(bad, "f", 10)
    with pytest.raises(InvalidArgument, match="must not contain"):
        fields.text("a|b", "tags[0]", 10, forbid="|")

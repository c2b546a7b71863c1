"""Feedback payloads: what is accepted, and a bad one refused row by row naming the field."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from recsvc.errors import InvalidArgument
from recsvc.feedback.payload import FeedbackPayload, check_payload, read_payload
from recsvc.server import convert
from recsvc.settings import load_settings
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.vocabulary import EVENT_TYPES, enum_value

SETTINGS = load_settings(env={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"rating": 4}', FeedbackPayload(4.0, ())),
        ('{"rating": 1, "reasons": ["too_many", "bad_time"]}', FeedbackPayload(1.0, ("too_many", "bad_time"))),
        ('{"reasons": ["not_relevant", "not_relevant"]}', FeedbackPayload(None, ("not_relevant",))),
    ],
)
def test_good_payloads(text: str, expected: FeedbackPayload) -> None:
    assert check_payload(text) == expected


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("not json", "payload"),
        ("[1, 2]", "payload"),
        ('{"rating": 0}', "payload.rating"),
        ('{"rating": 6}', "payload.rating"),
        ('{"rating": 3.5}', "payload.rating"),
        ('{"rating": true}', "payload.rating"),
        ('{"rating": "5"}', "payload.rating"),
        ("{}", "payload.rating"),
        ('{"reasons": []}', "payload.rating"),
        ('{"rating": 2, "reasons": ["too_loud"]}', "payload.reasons[0]"),
        ('{"reasons": ["bad_time", 7]}', "payload.reasons[1]"),
        ('{"reasons": "too_many"}', "payload.reasons"),
        ('{"rating": 2, "mood": "sad"}', "payload.mood"),
    ],
)
def test_bad_payloads_name_the_field(text: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        check_payload(text)
    assert err.value.field == field


def test_stored_payloads_are_read_leniently() -> None:
    assert read_payload(None) is None and read_payload("oops") is None
    assert read_payload('{"rating": 2.0, "note": "x"}') == FeedbackPayload(2.0, ())  # older rows still count
    assert read_payload('{"rating": 2.0, "note": "x"}').negative  # type: ignore[union-attr]


def _event(i: int, payload: str, event_type: str = "feedback") -> pb.Event:
    return pb.Event(
        event_id=f"e{i}",
        user_id="u",
        event_type=enum_value(EVENT_TYPES, event_type),
        ts=Timestamp(seconds=1_700_000_000),
        item_id="i1",
        payload=payload,
    )


def test_a_bad_feedback_row_is_refused_alone_with_its_field() -> None:
    events = [
        _event(0, '{"rating": 5}'),
        _event(1, '{"rating": 9}'),
        _event(2, '{"reasons": ["not_relevant"]}'),
        _event(3, '{"reasons": ["nope"]}'),
        _event(4, "{not json"),
        _event(5, '{"anything": 1}', event_type="view"),  # other events keep their free-form payload
    ]
    rows, _ = convert.report_events_rows(pb.ReportEventsRequest(events=events), SETTINGS)
    refused = {i: field for i, (row, field, _) in enumerate(rows) if row is None}
    assert refused == {1: "payload.rating", 3: "payload.reasons[0]", 4: "payload"}
    assert [r["event_id"] for r, _, _ in rows if r is not None] == ["e0", "e2", "e5"]

"""Feedback payloads: a rating from 1 to 5 and known reasons, or a clear error naming the payload."""

from __future__ import annotations

import pytest

from recsvc.errors import InvalidArgument
from recsvc.outcomes import Feedback, parse_feedback
from recsvc.outcomes.feedback import rating_of


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("", Feedback(None, ())),
        ("{}", Feedback(None, ())),
        ('{"rating": 4}', Feedback(4.0, ())),
        ('{"rating": 1, "reasons": ["too_many", "bad_time", "too_many"]}', Feedback(1.0, ("too_many", "bad_time"))),
        ('{"reasons": [], "comment": "kept, not read"}', Feedback(None, ())),
    ],
)
def test_valid_payloads(payload: str, expected: Feedback) -> None:
    assert parse_feedback(payload) == expected


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ("[1, 2]", "object"),
        ('"great"', "object"),
        ('{"rating": 0}', "rating"),
        ('{"rating": 6}', "rating"),
        ('{"rating": "5"}', "rating"),
        ('{"rating": true}', "rating"),
        ('{"reasons": "too_many"}', "reasons"),
        ('{"reasons": ["too_loud"]}', "too_loud"),
        ("{oops", "JSON"),
    ],
)
def test_malformed_payloads_are_refused_naming_the_payload(payload: str, needle: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_feedback(payload)
    assert info.value.field == "payload" and needle in str(info.value)


def test_a_stored_payload_that_does_not_parse_has_no_rating() -> None:
    assert rating_of('{"rating": 9}') is None and rating_of('{"rating": 3}') == 3.0 and rating_of(None) is None

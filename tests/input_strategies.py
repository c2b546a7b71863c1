"""Hypothesis strategies for API requests with a verdict: valid, certainly invalid, or unknown.

A message starts valid (every field from its ``good`` strategy); up to two fields are then
replaced, each either by a value the documented limits refuse (``bad``: 1 MB strings, NUL, deep or
NaN JSON, inf/NaN/1e308, unknown enums, year 1 and 9999, ...) or by an arbitrary value
(``anything``: arbitrary text, floats and ints, which may or may not be valid). The verdict says
which fields were replaced by which kind, so a property can demand: valid -> accepted; certainly
invalid -> refused, naming one of the bad fields when nothing arbitrary could be reported first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import strategies as st

from recsvc.v1 import recsvc_pb2 as pb

S = st.SearchStrategy
MB = "x" * 1_000_000
NOW_S = int(datetime.now(UTC).timestamp())
YEAR_1 = -62135596800
YEAR_9999 = 253402300799


@dataclass(frozen=True)
class Verdict:
    bad: frozenset[str]  # fields replaced by a value the limits refuse
    arbitrary: frozenset[str]  # fields replaced by an arbitrary value

    @property
    def valid(self) -> bool:
        return not self.bad and not self.arbitrary

    def kind(self, name: str) -> str:
        return "bad" if name in self.bad else "arbitrary" if name in self.arbitrary else "good"


@st.composite
def built(
    draw: st.DrawFn,
    cls: type,
    good: Mapping[str, S[Any]],
    bad: Mapping[str, S[Any]],
    anything: Mapping[str, S[Any]],
) -> tuple[Any, Verdict]:
    """A ``cls`` message and its verdict (see the module docstring)."""
    replaced = draw(st.sets(st.sampled_from(sorted(set(bad) | set(anything))), max_size=2))
    kinds = {}
    for n in sorted(replaced):
        options = [k for k, table in (("bad", bad), ("arbitrary", anything)) if n in table]
        kinds[n] = draw(st.sampled_from(options))
    values = {n: draw((bad if kinds.get(n) == "bad" else anything)[n] if n in kinds else good[n]) for n in good}
    verdict = Verdict(
        bad=frozenset(n for n, k in kinds.items() if k == "bad"),
        arbitrary=frozenset(n for n, k in kinds.items() if k == "arbitrary"),
    )
    return cls(**values), verdict


def batch(one: S[tuple[Any, Verdict]], max_size: int = 3) -> S[list[tuple[Any, Verdict]]]:
    return st.lists(one, min_size=1, max_size=max_size)


# ---- building blocks ----------------------------------------------------------------------
arbitrary_text = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "é漢字🙂",
            "\u200b",
            "x" * 128,
            "x" * 129,
            MB,
            "a|b",
            "price",
            "{}",
            "[" * 1000 + "]" * 1000,
            '{"a": NaN}',
            "Asia/Shanghai",
            "../../etc",
            "22-8",
        ]
    ),
    st.text(max_size=30),
)
arbitrary_float = st.floats(allow_nan=True, allow_infinity=True)
arbitrary_int = st.one_of(st.integers(-3, 20), st.integers(-(2**31), 2**31 - 1))
arbitrary_ts = st.builds(
    Timestamp,
    seconds=st.one_of(st.integers(-(2**40), 2**40), st.integers(946684800 - 10**6, NOW_S + 500 * 86400)),
    nanos=st.one_of(st.just(0), st.integers(-(2**31), 2**31 - 1)),
)
arbitrary_location = st.builds(pb.Location, lat=arbitrary_float, lon=arbitrary_float, city=arbitrary_text)

short = st.text(st.characters(exclude_characters="\x00|", exclude_categories=("Cs",)), max_size=20)
ident = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), min_size=1, max_size=20).filter(
    str.strip
)
recent_ts = st.integers(NOW_S - 3 * 365 * 86400, NOW_S).map(lambda s: Timestamp(seconds=s))
good_location = st.builds(
    pb.Location, lat=st.floats(-90, 90), lon=st.floats(-180, 180), city=st.sampled_from(["", "Beijing"])
)


def one_of(*values: Any) -> S[Any]:
    return st.sampled_from(values)


bad_required_id = one_of("", "   ", "\x00", "a\x00b", "x" * 129, MB)
bad_optional_id = one_of("\x00", "a\x00b", "x" * 129, MB)
bad_short = one_of("a\x00", "x" * 201, MB)
bad_amount = one_of(math.nan, math.inf, -math.inf, 1e308, -1.0, 1.5e9)
bad_signed_amount = one_of(math.nan, math.inf, -math.inf, 1e308, -1.5e9, 1.5e9)
bad_ts = st.sampled_from([YEAR_1, YEAR_9999, 2**40, -(2**40), 946684799, -1]).map(
    lambda s: Timestamp(seconds=s)
) | st.just(Timestamp(seconds=NOW_S, nanos=-1))
bad_location = one_of(
    pb.Location(lat=math.nan, lon=1),
    pb.Location(lat=1, lon=math.inf),
    pb.Location(lat=91, lon=0),
    pb.Location(lat=0, lon=-181),
)

# ---- per message -------------------------------------------------------------------------
EVENT_GOOD: dict[str, S[Any]] = {
    "event_id": st.one_of(st.just(""), ident),
    "user_id": ident,
    "ts": recent_ts,
    # Feedback payloads have a format of their own (tests/unit/feedback/test_payload.py), which the
    # free-form good payloads below do not follow.
    "event_type": st.integers(1, 16).filter(lambda v: v != pb.EVENT_TYPE_FEEDBACK),
    "item_id": st.one_of(st.just(""), ident),
    "quantity": st.integers(0, 1000),
    "value": st.floats(-1e6, 1e6),
    "channel": st.integers(0, 4),
    "campaign_id": short,
    "variant": short,
    "location": good_location,
    # valid for every event type: a feedback payload must be an object with a 1-5 rating and known reasons
    "payload": one_of("", "{}", '{"rating": 1}', '{"k": "[[[["}', '{"rating": 5, "reasons": ["too_many"]}'),
    "dedupe_key": st.one_of(st.just(""), ident),
}
EVENT_BAD: dict[str, S[Any]] = {
    "event_id": bad_optional_id,
    "user_id": bad_required_id,
    "ts": bad_ts | st.just(Timestamp()),
    "event_type": one_of(0, 17, -1, 2**31 - 1),
    "item_id": bad_optional_id,
    "quantity": one_of(-1, -(2**31)),
    "value": bad_signed_amount,
    "channel": one_of(5, -1, 99),
    "campaign_id": bad_optional_id,
    "variant": bad_optional_id,
    "location": bad_location,
    "payload": one_of(
        "[" * 1000 + "]" * 1000,
        "[" * 33 + "]" * 33,
        '{"a": NaN}',
        "{oops",
        '{"k": "' + "x" * 17_000 + '"}',
        '{"k": "' + "x" * 10_000_000 + '"}',
    ),
    "dedupe_key": bad_optional_id,
}
EVENT_ANY: dict[str, S[Any]] = {
    **{
        k: arbitrary_text for k in ("event_id", "user_id", "item_id", "campaign_id", "variant", "payload", "dedupe_key")
    },
    "ts": arbitrary_ts,
    "event_type": arbitrary_int,
    "quantity": arbitrary_int,
    "value": arbitrary_float,
    "channel": arbitrary_int,
    "location": arbitrary_location,
}
EVENTS = built(pb.Event, EVENT_GOOD, EVENT_BAD, EVENT_ANY)

CONTEXT_GOOD: dict[str, S[Any]] = {
    "trigger": st.integers(0, 6),
    "now": st.one_of(st.just(Timestamp()), recent_ts),
    "location": good_location,
    "locale": one_of("", "zh-CN", "en-US"),
    "query": one_of("", "red shoes", "礼物"),
    "cart_item_ids": st.lists(ident, max_size=3),
    "campaign_id": short,
}
CONTEXT_BAD: dict[str, S[Any]] = {
    "trigger": one_of(7, -1, 2**31 - 1),
    "now": bad_ts,
    "location": bad_location,
    "locale": bad_short,
    "query": one_of("x" * 1001, MB, "\x00"),
    "cart_item_ids": one_of(["x" * 129], [MB], ["c"] * 101, ["\x00"]),
    "campaign_id": bad_optional_id,
}
CONTEXT_ANY: dict[str, S[Any]] = {
    "trigger": arbitrary_int,
    "now": arbitrary_ts,
    "location": arbitrary_location,
    "locale": arbitrary_text,
    "query": arbitrary_text,
    "cart_item_ids": st.lists(arbitrary_text, max_size=3),
    "campaign_id": arbitrary_text,
}
CONTEXTS = built(pb.RequestContext, CONTEXT_GOOD, CONTEXT_BAD, CONTEXT_ANY)


@st.composite
def recommend_requests(draw: st.DrawFn) -> tuple[pb.RecommendRequest, Verdict]:
    """A RecommendRequest; the verdict names context fields as ``context.<field>``."""
    ctx, cv = draw(CONTEXTS)
    req, v = draw(
        built(
            pb.RecommendRequest,
            {
                "user_id": ident,
                "allowed_channels": st.lists(st.integers(1, 4), max_size=5),
                "max_candidates": st.integers(1, 5),
                "write_copy": st.booleans(),
            },
            {
                "user_id": bad_required_id,
                "allowed_channels": one_of([0], [5], [-1], [1] * 101),
                "max_candidates": one_of(0, -1, 101, 2**31 - 1),
            },
            {
                "user_id": arbitrary_text,
                "allowed_channels": st.lists(arbitrary_int, max_size=3),
                "max_candidates": arbitrary_int,
            },
        )
    )
    req.context.CopyFrom(ctx)
    return req, Verdict(
        bad=v.bad | {f"context.{n}" for n in cv.bad}, arbitrary=v.arbitrary | {f"context.{n}" for n in cv.arbitrary}
    )


ITEM_GOOD: dict[str, S[Any]] = {
    "item_id": ident,
    "title": ident,
    "description": short,
    "category": short,
    "price": st.floats(0, 1e9),
    "currency": one_of("", "CNY", "USD"),
    "image_url": one_of("", "https://cdn.example.com/a.jpg"),
    "in_stock": st.booleans(),
    "cities": st.lists(short, max_size=3),
    "tags": st.lists(short, max_size=3),
    "attributes": st.dictionaries(one_of("title_zh", "brand", "size"), short, max_size=3),
}
ITEM_BAD: dict[str, S[Any]] = {
    "item_id": bad_required_id,
    "title": one_of("", " ", "\x00", "x" * 201, MB),
    "description": one_of("x" * 4001, MB, "\x00"),
    "category": bad_short,
    "price": bad_amount,
    "currency": bad_short,
    "image_url": one_of("x" * 2049, "\x00"),
    "cities": one_of(["a|b"], ["c"] * 101, ["x" * 201]),
    "tags": one_of(["a|b"], ["t"] * 101, ["\x00"]),
    "attributes": one_of(
        {"price": "abc"},
        {"title": "x"},
        {"item_id": "y"},
        {"attributes": "{}"},
        {"k": "x" * 1001},
        {"x" * 129: "v"},
        {"": "v"},
        {"k": "\x00"},
        {f"k{i}": "v" for i in range(65)},
    ),
}
ITEM_ANY: dict[str, S[Any]] = {
    **{k: arbitrary_text for k in ("item_id", "title", "description", "category", "currency", "image_url")},
    "price": arbitrary_float,
    "cities": st.lists(arbitrary_text, max_size=2),
    "tags": st.lists(arbitrary_text, max_size=2),
    "attributes": st.dictionaries(arbitrary_text, arbitrary_text, max_size=3),
}
ITEMS = built(pb.Item, ITEM_GOOD, ITEM_BAD, ITEM_ANY)

USER_GOOD: dict[str, S[Any]] = {
    "user_id": ident,
    "signup_ts": st.one_of(st.just(Timestamp()), st.integers(1, NOW_S).map(lambda s: Timestamp(seconds=s))),
    "timezone": one_of("", "Asia/Shanghai", "America/New_York"),
    "locale": one_of("", "zh-CN"),
    "city": short,
    "country": one_of("", "CN"),
    "push_opt_in": st.booleans(),
    "quiet_hours": one_of("", "22-8", "23-7"),
    "first_name": short,
}
USER_BAD: dict[str, S[Any]] = {
    "user_id": bad_required_id,
    "signup_ts": one_of(YEAR_1, YEAR_9999, 2**40, -(2**40), -1).map(lambda s: Timestamp(seconds=s)),
    "timezone": one_of("Mars/Olympus", "x" * 201, "\x00"),
    "locale": bad_short,
    "city": bad_short,
    "country": bad_short,
    "quiet_hours": one_of("25-3", "x" * 201),
    "first_name": bad_short,
}
USER_ANY: dict[str, S[Any]] = {
    **{k: arbitrary_text for k in ("user_id", "timezone", "locale", "city", "country", "quiet_hours", "first_name")},
    "signup_ts": arbitrary_ts,
}
USERS = built(pb.User, USER_GOOD, USER_BAD, USER_ANY)

SCORE_USERS = built(
    pb.ScoreUsersRequest,
    {"user_ids": st.lists(ident, min_size=1, max_size=3), "as_of": st.one_of(st.just(Timestamp()), recent_ts)},
    {"user_ids": one_of([], [""], ["x" * 129], ["\x00"], [MB]), "as_of": bad_ts},
    {"user_ids": st.lists(arbitrary_text, max_size=3), "as_of": arbitrary_ts},
)

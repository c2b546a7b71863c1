"""The vocabulary module matches the proto enums word for word and value for value."""

from __future__ import annotations

import pytest

from recsvc import vocabulary as v
from recsvc.v1 import recsvc_pb2 as pb

_PAIRS = [
    (v.STAGES, pb.LifecycleStage, "LIFECYCLE_STAGE_"),
    (v.TIERS, pb.EngagementTier, "ENGAGEMENT_TIER_"),
    (v.CHANNELS, pb.Channel, "CHANNEL_"),
    (v.TRIGGERS, pb.Trigger, "TRIGGER_"),
    (v.EVENT_TYPES, pb.EventType, "EVENT_TYPE_"),
    (v.SUPPRESSIONS, pb.SuppressionReason, "SUPPRESSION_REASON_"),
    (v.WRITERS, pb.Writer, "WRITER_"),
    (v.MEDIA_TYPES, pb.MediaType, "MEDIA_TYPE_"),
    (v.OUTCOME_DIMENSIONS, pb.OutcomeDimension, "OUTCOME_DIMENSION_"),
]


@pytest.mark.parametrize(("words", "enum", "prefix"), _PAIRS, ids=[p[2].rstrip("_") for p in _PAIRS])
def test_words_are_the_proto_enum_in_value_order(words: tuple[str, ...], enum: object, prefix: str) -> None:
    by_value = sorted((value, name) for name, value in enum.items())  # type: ignore[attr-defined]
    assert by_value[0] == (0, prefix + "UNSPECIFIED")
    assert [value for value, _ in by_value] == list(range(len(by_value)))
    assert words == tuple(name[len(prefix) :].lower() for _, name in by_value[1:])
    for i, w in enumerate(words, start=1):
        assert v.enum_value(words, w) == i and v.word(words, i) == w
    assert (
        v.enum_value(words, "no such word") == 0 and v.word(words, 0) is None and v.word(words, len(words) + 1) is None
    )


def test_int_enums_match_their_words() -> None:
    assert [s.value for s in v.Stage] == [pb.LifecycleStage.Value("LIFECYCLE_STAGE_" + w.upper()) for w in v.STAGES]
    assert [t.value for t in v.EngagementTier] == [
        pb.EngagementTier.Value("ENGAGEMENT_TIER_" + w.upper()) for w in v.TIERS
    ]
    assert v.stage_name(v.Stage.LOYAL) == "loyal" and v.stage_name(0) == "awareness"
    assert v.tier_name(v.EngagementTier.LOW) == "low" and v.tier_name(9) == "dormant"


def test_chat_ranks_but_is_no_push_trigger() -> None:
    assert v.CHAT_TRIGGER in v.RANKING_TRIGGERS and v.CHAT_TRIGGER not in v.TRIGGERS


@pytest.mark.parametrize(
    ("locale", "written"), [("zh-CN", "zh-CN"), ("zh_TW", "zh-CN"), ("ZH", "zh-CN"), ("fr-FR", "en-US"), ("", "en-US")]
)
def test_effective_locale(locale: str, written: str) -> None:
    assert v.effective_locale(locale) == written and written in v.LOCALES


def test_no_package_defines_the_words_again() -> None:
    """Each word list lives only in recsvc.vocabulary."""
    import pathlib
    import re

    root = pathlib.Path(v.__file__).parent
    names = (
        "STAGES|TIERS|CHANNELS|TRIGGERS|EVENT_TYPES|SUPPRESSIONS|WRITERS|LOCALES"
        "|OUTCOME_DIMENSIONS|ATTRIBUTION_METHODS|ATTRIBUTION_MODELS|SEND_TIME_SOURCES|FEEDBACK_REASONS"
    )
    pattern = re.compile(rf"^({names})\b.*=", re.M)
    offenders = [
        f"{p.relative_to(root)}: {m.group(0)}"
        for p in root.rglob("*.py")
        if p.name != "vocabulary.py" and "_pb2" not in p.name
        for m in pattern.finditer(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []

from __future__ import annotations

import pytest

from recsvc.batch.segment import Segment
from recsvc.errors import InvalidArgument

ROW = {"stage": "churning", "predicted_stage": "churning", "churn_risk": 0.7, "tier": "low", "city": "上海"}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("", True),
        ("all", True),
        ("stage=churning", True),
        ("stage=loyal", False),
        ("stage!=loyal", True),
        ("stage=churning and churn_risk>0.6", True),
        ("stage=churning AND churn_risk>0.75", False),
        ("churn_risk>=0.7", True),
        ("churn_risk<0.7", False),
        ("tier in low,dormant", True),
        ("tier in high, medium", False),
        ("city=上海", True),
        ("city='北京'", False),
    ],
)
def test_segment_selects_rows(expr: str, expected: bool) -> None:
    assert Segment.parse(expr).holds(ROW) is expected


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("stage=sleepy", "unknown stage 'sleepy'"),
        ("mood=happy", "unknown field 'mood'"),
        ("churn_risk>high", "needs a number"),
        ("stage>loyal", "compares with =, != or in"),
        ("churn_risk in 0.1,0.2", "compares with <"),
        ("stage", "cannot read 'stage'"),
    ],
)
def test_unreadable_segment_names_the_field_and_term(expr: str, says: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        Segment.parse(expr)
    assert err.value.field == "segment"
    assert says in str(err.value)

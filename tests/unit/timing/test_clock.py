from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from recsvc.errors import InvalidArgument
from recsvc.timing.clock import QuietHours, Trigger, city_timezone, deadline_for, resolve_timezone
from recsvc.timing.config import TimingConfig


def test_resolve_timezone_known_unknown_and_inferred() -> None:
    assert resolve_timezone("America/New_York", None).key == "America/New_York"
    with pytest.raises(InvalidArgument) as err:
        resolve_timezone("Mars/Olympus_Mons", None)
    assert err.value.field == "timezone"
    assert "Mars/Olympus_Mons" in str(err.value)
    assert resolve_timezone(None, "上海").key == "Asia/Shanghai"
    assert resolve_timezone("", "深圳市").key == "Asia/Shanghai"
    assert resolve_timezone(None, "San Francisco").key == "America/Los_Angeles"
    assert resolve_timezone(None, "Atlantis").key == "UTC"
    assert resolve_timezone(None, None).key == "UTC"
    for city in ("北京", "广州", "杭州", "成都", "Beijing", "London", "Berlin", "Tokyo", "Chicago"):
        assert city_timezone(city) is not None, city


@pytest.mark.parametrize("text", ["25-3", "a-b", "22", "8-8", "-1-5", "22-24"])
def test_quiet_hours_rejects_bad_input_naming_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        QuietHours.parse(text)
    assert err.value.field == "quiet_hours"
    with pytest.raises(InvalidArgument) as err2:
        QuietHours.parse(text, field="users.quiet_hours")
    assert err2.value.field == "users.quiet_hours"


def test_quiet_hours_wrapping_and_next_allowed() -> None:
    q = QuietHours.parse("22-8")
    assert QuietHours.parse("") == q == QuietHours()
    assert [h for h in range(24) if q.contains_hour(h)] == [0, 1, 2, 3, 4, 5, 6, 7, 22, 23]
    tz = ZoneInfo("Asia/Shanghai")
    late = datetime(2024, 3, 1, 23, 15, tzinfo=tz)
    assert q.next_allowed(late) == datetime(2024, 3, 2, 8, 0, tzinfo=tz)
    early = datetime(2024, 3, 2, 3, 0, tzinfo=tz)
    assert q.next_allowed(early) == datetime(2024, 3, 2, 8, 0, tzinfo=tz)
    ok = datetime(2024, 3, 2, 12, 30, tzinfo=tz)
    assert q.next_allowed(ok) == ok
    day = QuietHours.parse("1-5")
    assert day.contains_hour(1) and day.contains_hour(4) and not day.contains_hour(5)
    # DST spring-forward night in New York: the answer is a real 08:00 local time.
    ny = ZoneInfo("America/New_York")
    nxt = q.next_allowed(datetime(2024, 3, 9, 23, 0, tzinfo=ny))
    assert (nxt.hour, nxt.day) == (8, 10)
    assert not q.contains(nxt)


def test_deadlines_per_trigger() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    cfg = TimingConfig()
    s, e = deadline_for(Trigger.CART_IDLE, now, cfg)
    assert (s, e) == (now, now + timedelta(hours=4))
    s, e = deadline_for("purchase_completed", now, cfg)
    assert e - s == timedelta(minutes=30)
    s, e = deadline_for("geo_enter", now, cfg)
    assert e - s == timedelta(minutes=10)
    s, e = deadline_for("scheduled", now, cfg, window_hours=6)
    assert e - s == timedelta(hours=6)
    # Cart went idle 5 hours ago: the window is already over.
    s, e = deadline_for("cart_idle", now, cfg, event_utc=now - timedelta(hours=5))
    assert s == e == now
    with pytest.raises(InvalidArgument) as err:
        deadline_for("birthday", now, cfg)
    assert err.value.field == "trigger"
    assert Trigger.CART_IDLE.key_moment and not Trigger.SCHEDULED.key_moment


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("half_life_days", -1.0),
        ("in_session_weight", 2.0),
        ("default_quiet_hours", "25-3"),
        ("cart_idle_hours", 0.0),
        ("on_all_quiet", "maybe"),
        ("lgbm_rounds", 0),
    ],
)
def test_config_validate_names_field(field: str, value: object) -> None:
    with pytest.raises(InvalidArgument) as err:
        replace(TimingConfig(), **{field: value}).validate()
    assert err.value.field == field

from __future__ import annotations

import pandas as pd
import pytest

from recsvc.data.io import normalize_events
from recsvc.errors import InvalidArgument
from recsvc.frequency.channels import ChannelStats, channel_stats, choose_channel

ALL = {"app_push": True, "sms": True, "email": True, "in_app": True}


def test_preferred_push_and_fallback_when_off() -> None:
    c = choose_channel(opt_in=ALL, reachable=ALL, preferred="app_push")
    assert c.channel == "app_push" and not c.fallback
    off = choose_channel(opt_in={**ALL, "app_push": False}, reachable=ALL, preferred="app_push")
    assert off.channel in ("in_app", "email", "sms") and off.fallback
    assert "app_push skipped" in off.reason and "opted in" in off.reason
    unsub = choose_channel(
        opt_in=ALL,
        reachable=ALL,
        unsubscribed=["app_push"],
        preferred="app_push",
        allowed=["app_push", "email"],
    )
    assert unsub.channel == "email" and "unsubscribed" in unsub.reason


def test_own_response_rate_and_cost_decide() -> None:
    stats = {
        "sms": ChannelStats(sent=40, responded=20),
        "app_push": ChannelStats(sent=40, responded=0),
        "email": ChannelStats(sent=40, responded=1),
    }
    c = choose_channel(opt_in=ALL, reachable={**ALL, "in_app": False}, stats=stats)
    assert c.channel == "sms"
    stats_low = {"sms": ChannelStats(sent=40, responded=1), "app_push": ChannelStats(sent=40, responded=2)}
    c2 = choose_channel(opt_in=ALL, reachable={**ALL, "in_app": False}, stats=stats_low)
    assert c2.channel == "app_push"


def test_nothing_reachable_says_why() -> None:
    c = choose_channel(opt_in=ALL, reachable={}, allowed=["sms"])
    assert c.channel is None and "sms" in c.reason and "no device" in c.reason
    with pytest.raises(InvalidArgument) as err:
        choose_channel(opt_in=ALL, reachable=ALL, allowed=["fax"])
    assert err.value.field == "allowed_channels"


def test_channel_stats_from_events() -> None:
    df = pd.DataFrame(
        {
            "user_id": ["u"] * 5,
            "ts": ["2024-01-01T10:00:00Z"] * 5,
            "event_type": [
                "push_delivered",
                "push_delivered",
                "push_opened",
                "push_delivered",
                "email_opened",
            ],
            "channel": ["app_push", "app_push", "app_push", "email", None],
        }
    )
    st = channel_stats(normalize_events(df), "u")
    assert st["app_push"] == ChannelStats(2, 1) and st["email"] == ChannelStats(1, 1) and st["sms"].sent == 0

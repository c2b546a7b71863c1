"""When to send: per-user send-time model, time zones, quiet hours and trigger deadlines."""

from recsvc.timing.clock import QuietHours, Trigger, city_timezone, deadline_for, resolve_timezone
from recsvc.timing.config import TimingConfig
from recsvc.timing.sendtime import SendTimeModel
from recsvc.timing.slots import SlotChoice

__all__ = [
    "QuietHours",
    "SendTimeModel",
    "SlotChoice",
    "TimingConfig",
    "Trigger",
    "city_timezone",
    "deadline_for",
    "resolve_timezone",
]

"""Time zones, quiet hours and trigger deadlines: the hard limits every send slot must respect.

Quiet hours are read in the user's local clock. A slot never falls inside them; when a trigger's
whole window is quiet the caller chooses (``TimingConfig.on_all_quiet``): ``"defer"`` moves the
send to the first allowed minute after the window and flags it, ``"suppress"`` reports no slot so
the caller drops the send (right for stale triggers such as a cart reminder at 3am).
"""

from __future__ import annotations

import enum
import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from recsvc.errors import InvalidArgument
from recsvc.timing.config import TimingConfig

logger = logging.getLogger(__name__)

UTC_ZONE = ZoneInfo("UTC")

# Major cities (English and Chinese names, lower-cased) -> IANA zone, for users without a timezone.
_CITY_ZONES: tuple[tuple[str, str], ...] = (
    # China
    ("shanghai", "Asia/Shanghai"),
    ("上海", "Asia/Shanghai"),
    ("beijing", "Asia/Shanghai"),
    ("北京", "Asia/Shanghai"),
    ("guangzhou", "Asia/Shanghai"),
    ("广州", "Asia/Shanghai"),
    ("shenzhen", "Asia/Shanghai"),
    ("深圳", "Asia/Shanghai"),
    ("hangzhou", "Asia/Shanghai"),
    ("杭州", "Asia/Shanghai"),
    ("chengdu", "Asia/Shanghai"),
    ("成都", "Asia/Shanghai"),
    ("wuhan", "Asia/Shanghai"),
    ("武汉", "Asia/Shanghai"),
    ("nanjing", "Asia/Shanghai"),
    ("南京", "Asia/Shanghai"),
    ("chongqing", "Asia/Shanghai"),
    ("重庆", "Asia/Shanghai"),
    ("tianjin", "Asia/Shanghai"),
    ("天津", "Asia/Shanghai"),
    ("xian", "Asia/Shanghai"),
    ("xi'an", "Asia/Shanghai"),
    ("西安", "Asia/Shanghai"),
    ("suzhou", "Asia/Shanghai"),
    ("苏州", "Asia/Shanghai"),
    ("qingdao", "Asia/Shanghai"),
    ("青岛", "Asia/Shanghai"),
    ("xiamen", "Asia/Shanghai"),
    ("厦门", "Asia/Shanghai"),
    ("changsha", "Asia/Shanghai"),
    ("长沙", "Asia/Shanghai"),
    ("zhengzhou", "Asia/Shanghai"),
    ("郑州", "Asia/Shanghai"),
    ("shenyang", "Asia/Shanghai"),
    ("沈阳", "Asia/Shanghai"),
    ("dalian", "Asia/Shanghai"),
    ("大连", "Asia/Shanghai"),
    ("harbin", "Asia/Shanghai"),
    ("哈尔滨", "Asia/Shanghai"),
    ("kunming", "Asia/Shanghai"),
    ("昆明", "Asia/Shanghai"),
    ("hefei", "Asia/Shanghai"),
    ("合肥", "Asia/Shanghai"),
    ("jinan", "Asia/Shanghai"),
    ("济南", "Asia/Shanghai"),
    ("fuzhou", "Asia/Shanghai"),
    ("福州", "Asia/Shanghai"),
    ("ningbo", "Asia/Shanghai"),
    ("宁波", "Asia/Shanghai"),
    ("dongguan", "Asia/Shanghai"),
    ("东莞", "Asia/Shanghai"),
    ("foshan", "Asia/Shanghai"),
    ("佛山", "Asia/Shanghai"),
    ("urumqi", "Asia/Urumqi"),
    ("乌鲁木齐", "Asia/Urumqi"),
    ("hong kong", "Asia/Hong_Kong"),
    ("香港", "Asia/Hong_Kong"),
    ("macau", "Asia/Macau"),
    ("澳门", "Asia/Macau"),
    ("taipei", "Asia/Taipei"),
    ("台北", "Asia/Taipei"),
    # Rest of Asia / Oceania
    ("tokyo", "Asia/Tokyo"),
    ("东京", "Asia/Tokyo"),
    ("osaka", "Asia/Tokyo"),
    ("seoul", "Asia/Seoul"),
    ("首尔", "Asia/Seoul"),
    ("singapore", "Asia/Singapore"),
    ("新加坡", "Asia/Singapore"),
    ("bangkok", "Asia/Bangkok"),
    ("jakarta", "Asia/Jakarta"),
    ("manila", "Asia/Manila"),
    ("kuala lumpur", "Asia/Kuala_Lumpur"),
    ("ho chi minh city", "Asia/Ho_Chi_Minh"),
    ("hanoi", "Asia/Bangkok"),
    ("mumbai", "Asia/Kolkata"),
    ("delhi", "Asia/Kolkata"),
    ("new delhi", "Asia/Kolkata"),
    ("bangalore", "Asia/Kolkata"),
    ("bengaluru", "Asia/Kolkata"),
    ("dubai", "Asia/Dubai"),
    ("riyadh", "Asia/Riyadh"),
    ("tel aviv", "Asia/Jerusalem"),
    ("istanbul", "Europe/Istanbul"),
    ("sydney", "Australia/Sydney"),
    ("melbourne", "Australia/Melbourne"),
    ("auckland", "Pacific/Auckland"),
    # Europe
    ("london", "Europe/London"),
    ("伦敦", "Europe/London"),
    ("dublin", "Europe/Dublin"),
    ("paris", "Europe/Paris"),
    ("巴黎", "Europe/Paris"),
    ("berlin", "Europe/Berlin"),
    ("柏林", "Europe/Berlin"),
    ("munich", "Europe/Berlin"),
    ("hamburg", "Europe/Berlin"),
    ("frankfurt", "Europe/Berlin"),
    ("madrid", "Europe/Madrid"),
    ("barcelona", "Europe/Madrid"),
    ("rome", "Europe/Rome"),
    ("milan", "Europe/Rome"),
    ("amsterdam", "Europe/Amsterdam"),
    ("brussels", "Europe/Brussels"),
    ("vienna", "Europe/Vienna"),
    ("zurich", "Europe/Zurich"),
    ("stockholm", "Europe/Stockholm"),
    ("copenhagen", "Europe/Copenhagen"),
    ("oslo", "Europe/Oslo"),
    ("helsinki", "Europe/Helsinki"),
    ("warsaw", "Europe/Warsaw"),
    ("prague", "Europe/Prague"),
    ("lisbon", "Europe/Lisbon"),
    ("athens", "Europe/Athens"),
    ("moscow", "Europe/Moscow"),
    ("莫斯科", "Europe/Moscow"),
    ("kyiv", "Europe/Kyiv"),
    # Americas
    ("new york", "America/New_York"),
    ("纽约", "America/New_York"),
    ("boston", "America/New_York"),
    ("washington", "America/New_York"),
    ("philadelphia", "America/New_York"),
    ("miami", "America/New_York"),
    ("atlanta", "America/New_York"),
    ("toronto", "America/Toronto"),
    ("montreal", "America/Toronto"),
    ("chicago", "America/Chicago"),
    ("芝加哥", "America/Chicago"),
    ("houston", "America/Chicago"),
    ("dallas", "America/Chicago"),
    ("austin", "America/Chicago"),
    ("denver", "America/Denver"),
    ("phoenix", "America/Phoenix"),
    ("los angeles", "America/Los_Angeles"),
    ("洛杉矶", "America/Los_Angeles"),
    ("san francisco", "America/Los_Angeles"),
    ("旧金山", "America/Los_Angeles"),
    ("seattle", "America/Los_Angeles"),
    ("san diego", "America/Los_Angeles"),
    ("vancouver", "America/Vancouver"),
    ("mexico city", "America/Mexico_City"),
    ("são paulo", "America/Sao_Paulo"),
    ("sao paulo", "America/Sao_Paulo"),
    ("rio de janeiro", "America/Sao_Paulo"),
    ("buenos aires", "America/Argentina/Buenos_Aires"),
    ("bogota", "America/Bogota"),
    ("lima", "America/Lima"),
    # Africa
    ("cairo", "Africa/Cairo"),
    ("lagos", "Africa/Lagos"),
    ("nairobi", "Africa/Nairobi"),
    ("johannesburg", "Africa/Johannesburg"),
)


def city_timezone(city: str | None) -> str | None:
    """The IANA zone of a known city (English or Chinese name, ``市`` suffix tolerated), else None."""
    if not city:
        return None
    key = city.strip().lower()
    table = dict(_CITY_ZONES)
    if key in table:
        return table[key]
    if key.endswith("市") and key[:-1] in table:
        return table[key[:-1]]
    return None


def resolve_timezone(tz: str | None, city: str | None = None, *, field: str = "timezone") -> ZoneInfo:
    """The user's zone: the IANA name if given (unknown -> InvalidArgument), else the city's, else UTC."""
    if tz is not None and str(tz).strip():
        name = str(tz).strip()
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
            raise InvalidArgument(
                f"{field}: unknown IANA time zone {name!r} (e.g. 'Asia/Shanghai')", field=field
            ) from None
    inferred = city_timezone(city)
    if inferred is not None:
        return ZoneInfo(inferred)
    return UTC_ZONE


def _aware(dt: datetime, name: str) -> datetime:
    if dt.tzinfo is None:
        raise InvalidArgument(f"{name} must be timezone-aware (UTC)", field=name)
    return dt


def _is_quiet(start: int, end: int, hour: int) -> bool:
    """Whether ``hour`` lies in ``[start, end)``, wrapping midnight when ``start > end``."""
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


@functools.lru_cache(maxsize=1024)
def _quiet_mask(start: int, end: int) -> tuple[bool, ...]:
    return tuple(_is_quiet(start, end, h) for h in range(24))


@dataclass(frozen=True)
class QuietHours:
    """Local hours ``[start, end)`` when nothing is sent; ``start > end`` wraps midnight (22-8)."""

    start: int = 22
    end: int = 8

    @classmethod
    def parse(cls, text: str | None, *, field: str = "quiet_hours", default: str = "22-8") -> QuietHours:
        """Parse ``"22-8"``; empty -> ``default``; anything malformed -> InvalidArgument naming ``field``."""
        raw = (text or "").strip() or default
        parts = raw.split("-")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise InvalidArgument(f"{field}: {raw!r} is not 'START-END' in whole hours, e.g. '22-8'", field=field)
        start, end = int(parts[0]), int(parts[1])
        if not (0 <= start <= 23 and 0 <= end <= 23):
            raise InvalidArgument(f"{field}: hours in {raw!r} must be 0-23", field=field)
        if start == end:
            raise InvalidArgument(f"{field}: start and end of {raw!r} must differ", field=field)
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"

    def contains_hour(self, hour: int) -> bool:
        """Whether a local hour of day is quiet."""
        return _is_quiet(self.start, self.end, hour)

    def quiet_mask(self) -> tuple[bool, ...]:
        """For each local hour of day 0-23, whether it is quiet."""
        return _quiet_mask(self.start, self.end)

    def contains(self, local_dt: datetime) -> bool:
        """Whether a local (or any aware, read in its own zone) time is quiet."""
        return self.contains_hour(local_dt.hour)

    def next_allowed(self, local_dt: datetime) -> datetime:
        """``local_dt`` itself if allowed, else the end of this quiet spell (same zone, DST-safe)."""
        if not self.contains(local_dt):
            return local_dt
        day = local_dt.date()
        if self.start > self.end and local_dt.hour >= self.start:
            day = day + timedelta(days=1)
        naive = datetime.combine(day, time(self.end))
        if local_dt.tzinfo is None:
            return naive
        out = naive.replace(tzinfo=local_dt.tzinfo)
        # Round-trip through UTC normalises a wall time skipped by a DST jump.
        return out.astimezone(UTC).astimezone(local_dt.tzinfo)


class Trigger(enum.StrEnum):
    """Why a push is being planned; each has its own deadline."""

    CART_IDLE = "cart_idle"
    PURCHASE_COMPLETED = "purchase_completed"
    GEO_ENTER = "geo_enter"
    APP_OPEN = "app_open"  # the user is in the app now: an in-app or push message within minutes
    SCHEDULED = "scheduled"
    SURVEY = "survey"  # a satisfaction survey: planned like a scheduled campaign, never a key moment

    @property
    def key_moment(self) -> bool:
        """Key moments pass frequency caps that suppress scheduled campaigns for dormant users."""
        return self not in (Trigger.SCHEDULED, Trigger.SURVEY)

    @classmethod
    def parse(cls, value: str, *, field: str = "trigger") -> Trigger:
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise InvalidArgument(
                f"{field}: unknown trigger {value!r} (known: {', '.join(t.value for t in cls)})", field=field
            ) from None


def deadline_for(
    trigger: Trigger | str,
    now_utc: datetime,
    config: TimingConfig | None = None,
    *,
    event_utc: datetime | None = None,
    window_hours: float | None = None,
) -> tuple[datetime, datetime]:
    """The ``(window_start, window_end)`` in UTC within which a trigger's push is still timely.

    ``event_utc`` is when the trigger happened (cart went idle, purchase, geo entry); it defaults to
    ``now_utc``. A window already over returns ``(now, now)`` so the caller sees it is too late.
    """
    cfg = config or TimingConfig()
    trig = trigger if isinstance(trigger, Trigger) else Trigger.parse(trigger)
    now = _aware(now_utc, "now_utc").astimezone(UTC)
    at = _aware(event_utc, "event_utc").astimezone(UTC) if event_utc is not None else now
    if trig is Trigger.CART_IDLE:
        end = at + timedelta(hours=cfg.cart_idle_hours)
    elif trig is Trigger.PURCHASE_COMPLETED:
        end = at + timedelta(minutes=cfg.post_purchase_minutes)
    elif trig in (Trigger.GEO_ENTER, Trigger.APP_OPEN):
        end = at + timedelta(minutes=cfg.geo_enter_minutes)
    else:
        end = at + timedelta(hours=window_hours if window_hours is not None else cfg.campaign_window_hours)
    start = max(now, at)
    if end < start:
        end = start
    return start, end

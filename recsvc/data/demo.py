"""``recsvc demo-data``: a seeded, realistic e-commerce app, written as canonical tables.

Real logs with pushes, send hours, opt-ins and churn are not public, so the service ships a
world it can train, evaluate and demo on. The story the simulator tells:

* **The shop.** ``n_items`` products in 12 categories (beauty, snacks, coffee & tea, baby,
  electronics, phone accessories, home, kitchen, fashion, sports, pet supplies, books), each
  with an en-US and a zh-CN title (brand + adjective + product noun + variant), a log-normal
  price per category in CNY, media URLs, a stock flag, tags and, for some (fresh food, local
  delivery), a short list of Chinese cities where it can be sold. Inside a category popularity
  is Zipf-like. Snacks, coffee & tea, baby, pet supplies (and, slower, beauty) are consumables
  that get bought again on a per-category cycle.
* **The people.** ``n_users`` users live in one of :data:`DEMO_CITIES` (mostly six Chinese
  cities on ``Asia/Shanghai``, some in Singapore, Tokyo, London, New York, San Francisco with
  their own IANA zones and DST). Each has hidden traits: 1-3 favourite categories, a price
  sensitivity, one or two peak hours of the *local* day (morning commute, lunch, evening, late
  night) around which sessions cluster, an activity level (heavy/regular/light), a shopping
  segment (browser, cart-abandoner, buyer, loyal repeat buyer), a push affinity and a hidden
  satisfaction. ``users.csv`` shows only what an app knows: signup time, timezone, locale,
  city, country, opt-ins (a snapshot at the end: an unsubscribe turns the flag off), quiet
  hours and a first name.
* **Lifecycle.** About 60% signed up before the window, the rest during it (so the newest users
  have only a few events). Every user has a churn time drawn from a Weibull with a rising
  hazard whose scale depends on the traits (heavy, loyal, push-engaged and satisfied users
  last longer; a share of fresh signups drop out within days). In the 1-4 weeks before
  churning, activity ramps down, so recency, trend and push engagement carry real but noisy
  signal. After churning a user is silent; half of them uninstalled the app, so even pushes
  stop being delivered; the rest may still, rarely, answer a push. A third of all users also
  take one 1-4 week break and come back (silence that is not churn; they keep glancing at
  pushes, so push engagement helps tell the two apart).
* **Sessions.** Daily sessions are negative-binomial around the user's rate (activity x
  lifecycle x onboarding burst x slow drift x weekend lift x one site-wide sale day). A session
  is an ``app_open``, sometimes a ``search`` (payload ``{"query": ...}`` in the user's
  language), a few ``view`` events mostly in the session's category (favourites 70% of the
  time) picked by popularity among the items sold in the user's city, ``add_to_cart`` by the
  user's segment and price sensitivity (never when out of stock), ``purchase`` of some carts
  (``value = price * quantity``), ``remove_from_cart`` of some of the rest, sometimes a
  ``geo_enter`` (lat/lon near the city, now and then while travelling). Purchases of
  consumables schedule a repurchase session one cycle later if the user is still around;
  some purchases get a ``feedback`` (payload ``{"rating": 1-5}``, higher for satisfied users)
  a few days later.
* **Messaging.** A few push campaigns a week (variants A/B, B slightly better copy), each
  promoting an item, go to opted-in, installed, not unsubscribed users seen in the last 45
  days. Half of the sends use the campaign's hour, half an exploring random hour, both in the
  user's local time and deferred out of quiet hours. The chance to open rises with how close
  the send hour is to the user's peak hours, with push affinity, current engagement and taste
  for the promoted category; so a send-time model has something to learn. Opens lead to
  clicks and a session on the promoted item; ignored pushes are sometimes dismissed, and
  repeated dismissals of a fading user end in ``unsubscribe``. Weekly SMS (only
  ``sms_clicked`` is observable) and twice-weekly email (``email_opened`` at the user's next
  active moment, ``email_clicked``, rare email ``unsubscribe``) work the same way.

All timestamps are written in UTC (``Z``); ``users.csv`` carries each user's timezone. Everything
comes from one ``numpy`` generator seeded by ``seed``, so a seed gives byte-identical files.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from tqdm.auto import tqdm

from recsvc.data.io import USER_COLUMNS, write_table
from recsvc.errors import InvalidArgument
from recsvc.vocabulary import CHANNELS, EVENT_TYPES, LOCALES

logger = logging.getLogger(__name__)

Array = np.ndarray[Any, Any]

DEFAULT_END = datetime(2026, 11, 1, tzinfo=UTC)
_DAY = 86400


# --------------------------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class DemoCity:
    """A city users live in: its clock, country and centre."""

    name: str
    name_zh: str
    timezone: str
    country: str
    lat: float
    lon: float
    weight: float  # share of demo users living there


DEMO_CITIES: Mapping[str, DemoCity] = MappingProxyType(
    {
        c.name: c
        for c in (
            DemoCity("Shanghai", "上海", "Asia/Shanghai", "CN", 31.2304, 121.4737, 0.20),
            DemoCity("Beijing", "北京", "Asia/Shanghai", "CN", 39.9042, 116.4074, 0.17),
            DemoCity("Guangzhou", "广州", "Asia/Shanghai", "CN", 23.1291, 113.2644, 0.12),
            DemoCity("Shenzhen", "深圳", "Asia/Shanghai", "CN", 22.5431, 114.0579, 0.13),
            DemoCity("Hangzhou", "杭州", "Asia/Shanghai", "CN", 30.2741, 120.1551, 0.10),
            DemoCity("Chengdu", "成都", "Asia/Shanghai", "CN", 30.5728, 104.0668, 0.11),
            DemoCity("Singapore", "新加坡", "Asia/Singapore", "SG", 1.3521, 103.8198, 0.04),
            DemoCity("Tokyo", "东京", "Asia/Tokyo", "JP", 35.6762, 139.6503, 0.03),
            DemoCity("London", "伦敦", "Europe/London", "GB", 51.5074, -0.1278, 0.03),
            DemoCity("New York", "纽约", "America/New_York", "US", 40.7128, -74.0060, 0.04),
            DemoCity("San Francisco", "旧金山", "America/Los_Angeles", "US", 37.7749, -122.4194, 0.03),
        )
    }
)

Pair = tuple[str, str]  # (en-US, zh-CN)


@dataclass(frozen=True)
class _Category:
    key: str
    name: Pair
    median_price: float  # CNY
    weight: float  # share of catalogue and of browsing
    cycle_days: float  # repurchase cycle; 0 = not a consumable
    nouns: tuple[Pair, ...]
    variants: tuple[Pair, ...]


_CATEGORIES: tuple[_Category, ...] = (
    _Category(
        "beauty",
        ("Beauty", "美妆"),
        159,
        0.11,
        40,
        (
            ("Face Serum", "精华液"),
            ("Moisturizer", "保湿霜"),
            ("Sunscreen SPF50", "防晒霜"),
            ("Lipstick", "口红"),
            ("Cleansing Foam", "洁面乳"),
            ("Sheet Mask Set", "面膜套装"),
            ("Eye Cream", "眼霜"),
            ("Toner", "爽肤水"),
        ),
        (
            ("30ml", "30毫升"),
            ("50ml", "50毫升"),
            ("Travel Size", "旅行装"),
            ("Gift Box", "礼盒装"),
            ("Rose", "玫瑰"),
            ("Matte Red", "哑光红"),
        ),
    ),
    _Category(
        "snacks",
        ("Snacks", "零食"),
        39,
        0.12,
        12,
        (
            ("Mixed Nuts", "每日坚果"),
            ("Beef Jerky", "牛肉干"),
            ("Seaweed Snack", "海苔"),
            ("Potato Chips", "薯片"),
            ("Dried Mango", "芒果干"),
            ("Chocolate Bar", "巧克力"),
            ("Spicy Strips", "辣条"),
            ("Egg Rolls", "蛋卷"),
        ),
        (
            ("500g", "500克"),
            ("Family Pack", "家庭装"),
            ("Spicy", "香辣味"),
            ("Original", "原味"),
            ("30 Packs", "30包"),
            ("Sea Salt", "海盐味"),
        ),
    ),
    _Category(
        "coffee_tea",
        ("Coffee & Tea", "咖啡茶饮"),
        69,
        0.08,
        20,
        (
            ("Drip Coffee", "挂耳咖啡"),
            ("Coffee Beans", "咖啡豆"),
            ("Cold Brew", "冷萃咖啡"),
            ("Oolong Tea", "乌龙茶"),
            ("Green Tea", "绿茶"),
            ("Pu'er Tea", "普洱茶"),
            ("Milk Tea Powder", "奶茶粉"),
            ("Capsule Coffee", "胶囊咖啡"),
        ),
        (
            ("Medium Roast", "中度烘焙"),
            ("Dark Roast", "深度烘焙"),
            ("20 Bags", "20袋"),
            ("250g", "250克"),
            ("Gift Tin", "礼罐装"),
            ("Decaf", "低因"),
        ),
    ),
    _Category(
        "baby",
        ("Baby", "母婴"),
        129,
        0.06,
        14,
        (
            ("Diapers", "纸尿裤"),
            ("Infant Formula", "婴儿奶粉"),
            ("Baby Wipes", "婴儿湿巾"),
            ("Feeding Bottle", "奶瓶"),
            ("Baby Lotion", "婴儿润肤乳"),
            ("Teether", "牙胶"),
            ("Stroller Fan", "推车风扇"),
            ("Rice Cereal", "米粉"),
        ),
        (
            ("Size M", "M码"),
            ("Size L", "L码"),
            ("Stage 2", "2段"),
            ("Stage 3", "3段"),
            ("80 Count", "80片"),
            ("Value Pack", "量贩装"),
        ),
    ),
    _Category(
        "electronics",
        ("Electronics", "数码电器"),
        899,
        0.09,
        0,
        (
            ("Wireless Earbuds", "无线耳机"),
            ("Smart Watch", "智能手表"),
            ("Bluetooth Speaker", "蓝牙音箱"),
            ("Tablet", "平板电脑"),
            ("E-Reader", "电子阅读器"),
            ("Action Camera", "运动相机"),
            ("Robot Vacuum", "扫地机器人"),
            ("Air Purifier", "空气净化器"),
        ),
        (
            ("Black", "黑色"),
            ("White", "白色"),
            ("Pro", "Pro版"),
            ("Lite", "轻享版"),
            ("128GB", "128GB"),
            ("2026 Edition", "2026款"),
        ),
    ),
    _Category(
        "phone_accessories",
        ("Phone Accessories", "手机配件"),
        59,
        0.08,
        0,
        (
            ("Phone Case", "手机壳"),
            ("Fast Charger", "快充充电器"),
            ("USB-C Cable", "Type-C数据线"),
            ("Power Bank", "充电宝"),
            ("Screen Protector", "钢化膜"),
            ("Car Mount", "车载支架"),
            ("Wireless Charger", "无线充电器"),
            ("Selfie Stick", "自拍杆"),
        ),
        (
            ("for iPhone", "适用iPhone"),
            ("for Android", "适用安卓"),
            ("20W", "20W"),
            ("65W", "65W"),
            ("10000mAh", "10000毫安"),
            ("Transparent", "透明款"),
        ),
    ),
    _Category(
        "home",
        ("Home", "家居"),
        149,
        0.08,
        0,
        (
            ("Throw Pillow", "抱枕"),
            ("Bed Sheet Set", "床单四件套"),
            ("Scented Candle", "香薰蜡烛"),
            ("Storage Box", "收纳箱"),
            ("Desk Lamp", "台灯"),
            ("Bath Towel", "浴巾"),
            ("Blackout Curtain", "遮光窗帘"),
            ("Area Rug", "地毯"),
        ),
        (
            ("Queen", "1.8米"),
            ("Grey", "灰色"),
            ("Beige", "米色"),
            ("Set of 2", "两件装"),
            ("Cotton", "纯棉"),
            ("Nordic Style", "北欧风"),
        ),
    ),
    _Category(
        "kitchen",
        ("Kitchen", "厨房"),
        119,
        0.08,
        0,
        (
            ("Non-stick Pan", "不粘锅"),
            ("Rice Cooker", "电饭煲"),
            ("Knife Set", "刀具套装"),
            ("Air Fryer", "空气炸锅"),
            ("Lunch Box", "便当盒"),
            ("Vacuum Flask", "保温杯"),
            ("Cutting Board", "砧板"),
            ("Electric Kettle", "电热水壶"),
        ),
        (
            ("28cm", "28厘米"),
            ("3L", "3升"),
            ("5L", "5升"),
            ("Stainless Steel", "不锈钢"),
            ("Pink", "粉色"),
            ("500ml", "500毫升"),
        ),
    ),
    _Category(
        "fashion",
        ("Fashion", "服饰"),
        199,
        0.12,
        0,
        (
            ("T-Shirt", "T恤"),
            ("Hoodie", "连帽卫衣"),
            ("Jeans", "牛仔裤"),
            ("Sneakers", "运动鞋"),
            ("Down Jacket", "羽绒服"),
            ("Dress", "连衣裙"),
            ("Backpack", "双肩包"),
            ("Sunglasses", "太阳镜"),
        ),
        (
            ("Size S", "S码"),
            ("Size M", "M码"),
            ("Size L", "L码"),
            ("Black", "黑色"),
            ("Navy", "藏青色"),
            ("Oversized", "宽松版"),
        ),
    ),
    _Category(
        "sports",
        ("Sports & Outdoors", "运动户外"),
        229,
        0.07,
        0,
        (
            ("Yoga Mat", "瑜伽垫"),
            ("Running Shoes", "跑步鞋"),
            ("Dumbbell Set", "哑铃套装"),
            ("Jump Rope", "跳绳"),
            ("Camping Tent", "帐篷"),
            ("Cycling Helmet", "骑行头盔"),
            ("Resistance Bands", "弹力带"),
            ("Sports Bottle", "运动水壶"),
        ),
        (
            ("6mm", "6毫米"),
            ("10kg", "10公斤"),
            ("2-Person", "双人"),
            ("Blue", "蓝色"),
            ("Pro", "专业款"),
            ("Lightweight", "轻量款"),
        ),
    ),
    _Category(
        "pet_supplies",
        ("Pet Supplies", "宠物用品"),
        89,
        0.05,
        25,
        (
            ("Cat Food", "猫粮"),
            ("Dog Food", "狗粮"),
            ("Cat Litter", "猫砂"),
            ("Pet Treats", "宠物零食"),
            ("Chew Toy", "磨牙玩具"),
            ("Pet Shampoo", "宠物香波"),
            ("Cat Tree", "猫爬架"),
            ("Dog Leash", "牵引绳"),
        ),
        (
            ("2kg", "2公斤"),
            ("10kg", "10公斤"),
            ("Chicken", "鸡肉味"),
            ("Salmon", "三文鱼味"),
            ("Tofu Formula", "豆腐配方"),
            ("Small Breed", "小型犬"),
        ),
    ),
    _Category(
        "books",
        ("Books", "图书"),
        49,
        0.06,
        0,
        (
            ("Novel", "小说"),
            ("Cookbook", "菜谱"),
            ("Picture Book", "绘本"),
            ("Self-Help Guide", "成长指南"),
            ("History Book", "历史读物"),
            ("Language Textbook", "语言教材"),
            ("Comic Volume", "漫画"),
            ("Travel Guide", "旅行指南"),
        ),
        (
            ("Hardcover", "精装"),
            ("Paperback", "平装"),
            ("Box Set", "套装"),
            ("Bilingual", "双语版"),
            ("Illustrated", "插图版"),
            ("Vol. 1", "第一卷"),
        ),
    ),
)

_BRANDS: tuple[Pair, ...] = (
    ("Lumi", "露米"),
    ("Panda Pick", "熊猫优选"),
    ("Bamboo", "竹语"),
    ("Nova", "诺瓦"),
    ("Orchid", "兰芝阁"),
    ("Zenith", "天顶"),
    ("Maple", "枫叶"),
    ("Jade", "翡翠"),
    ("Cloud", "云朵"),
    ("Sunny", "阳光"),
    ("Kiwi", "奇异"),
    ("Aurora", "极光"),
    ("Harbor", "港湾"),
    ("Lotus", "莲花"),
    ("Pebble", "石子"),
    ("Mochi", "麻薯"),
)
_ADJECTIVES: tuple[Pair, ...] = (
    ("Premium", "臻选"),
    ("Classic", "经典"),
    ("Natural", "天然"),
    ("Ultra", "超能"),
    ("Mini", "迷你"),
    ("Daily", "日常"),
    ("Smart", "智能"),
    ("Fresh", "鲜享"),
    ("Deluxe", "豪华"),
    ("Eco", "环保"),
)
_TAGS: tuple[str, ...] = ("new", "bestseller", "gift", "sale", "imported", "eco", "limited")
_NAMES_ZH: tuple[str, ...] = (
    "子涵",
    "欣怡",
    "梓萱",
    "浩然",
    "宇轩",
    "一诺",
    "雨桐",
    "思远",
    "晨曦",
    "嘉怡",
    "俊杰",
    "佳琪",
    "明轩",
    "诗涵",
    "志强",
    "丽娜",
    "建华",
    "晓明",
    "婷婷",
    "伟",
    "芳",
    "静",
    "磊",
    "洋",
)
_NAMES_EN: tuple[str, ...] = (
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Ava",
    "Ethan",
    "Sophia",
    "Lucas",
    "Mia",
    "Mason",
    "Chloe",
    "James",
    "Grace",
    "Leo",
    "Lily",
    "Jack",
    "Hannah",
    "Ryan",
    "Zoe",
    "Daniel",
)
_QUIET_HOURS: tuple[str, ...] = ("22-8", "23-7", "22-7", "0-8", "23-8")
# Local peak hours: morning commute, lunch, evening and late night.
_PEAKS: tuple[int, ...] = (8, 12, 19, 20, 21, 22, 23)
_PEAK_P: tuple[float, ...] = (0.15, 0.20, 0.12, 0.15, 0.18, 0.12, 0.08)
_SEGMENTS: tuple[str, ...] = ("browser", "abandoner", "buyer", "loyal")
_ACTIVITY: tuple[str, ...] = ("heavy", "regular", "light")

_ET = {name: i for i, name in enumerate(EVENT_TYPES)}
_CH = {name: i for i, name in enumerate(CHANNELS)}
_VARIANTS: tuple[str, str] = ("A", "B")


# --------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class DemoConfig:
    """Size, window and seed of the simulated app; the message cadence is tunable too."""

    n_users: int = 5000
    n_items: int = 1000
    days: int = 120
    end: datetime = DEFAULT_END
    seed: int = 42
    push_per_week: float = 3.5
    sms_per_week: float = 1.0
    email_per_week: float = 2.0

    def validate(self) -> None:
        """Reject sizes the simulator cannot honour, naming the field."""
        if self.n_users < 1:
            raise InvalidArgument("demo n_users must be >= 1", field="n_users")
        if self.n_items < len(_CATEGORIES):
            raise InvalidArgument(
                f"demo n_items must be >= {len(_CATEGORIES)} (one per category)", field="n_items"
            )
        if not 1 <= self.days <= 3660:
            raise InvalidArgument("demo days must be in 1..3660", field="days")
        if self.end.tzinfo is None:
            raise InvalidArgument("demo end must be timezone-aware (e.g. 2026-11-01T00:00Z)", field="end")
        if self.seed < 0:
            raise InvalidArgument("demo seed must be >= 0", field="seed")
        for name in ("push_per_week", "sms_per_week", "email_per_week"):
            v = getattr(self, name)
            if not 0 <= v <= 7:
                raise InvalidArgument(f"demo {name} must be in 0..7 (at most one campaign a day)", field=name)


@dataclass(frozen=True)
class DemoPaths:
    """Where :func:`generate_demo` wrote the three canonical files."""

    events: Path
    items: Path
    users: Path


@dataclass(frozen=True)
class DemoFrames:
    """The simulated tables as written, plus the hidden per-user truth (for tests and diagnostics).

    ``events`` holds ISO-8601 strings in ``ts``; pass it through ``normalize_events`` for the
    canonical dtypes. ``truth`` is never written: it is what a model should recover.
    """

    events: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    truth: pd.DataFrame


# --------------------------------------------------------------------------------------------- world


@dataclass
class _World:
    """Everything the samplers need, as arrays indexed by user or item."""

    cfg: DemoConfig
    start: int  # epoch seconds of the window start
    # items
    item_cat: Array
    item_price: Array
    item_in_stock: Array
    item_ok: Array  # (n_items, n_cities): can be sold in that city
    cat_items: list[Array]
    cat_cdf: list[Array]
    item_pop: Array  # within-category popularity weight
    cat_weight: Array
    cat_cycle: Array
    # users
    user_city: Array
    user_tz: Array
    user_locale: Array  # 0 en-US, 1 zh-CN
    prefs: Array  # (n_users, 3)
    n_prefs: Array
    peak1: Array
    peak2: Array
    n_peaks: Array
    peak_share: Array
    sens: Array
    cart_base: Array
    p_buy: Array
    p_search: Array
    p_geo: Array
    view_rate: Array
    repurchase: Array
    paff: Array
    eaff: Array
    sat: Array
    tau: Array  # churn day (float, relative to the window start)
    uninstall: Array
    signup_day: Array
    # clocks
    offsets: Array  # (n_tz, n_days_table) UTC offset seconds per local day
    day_pad: int
    # catalogues
    payloads: list[str] = field(default_factory=list)
    payload_index: dict[str, int] = field(default_factory=dict)
    query_codes: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    def payload(self, obj: dict[str, Any]) -> int:
        text = json.dumps(obj, ensure_ascii=False)
        code = self.payload_index.get(text)
        if code is None:
            code = len(self.payloads)
            self.payloads.append(text)
            self.payload_index[text] = code
        return code


class _Parts:
    """Column-wise accumulator of event batches; defaults fill what a batch does not set."""

    _DEFAULTS: Mapping[str, tuple[type, float]] = MappingProxyType(
        {
            "item": (np.int32, -1),
            "qty": (np.float64, np.nan),
            "value": (np.float64, np.nan),
            "channel": (np.int8, -1),
            "campaign": (np.int32, -1),
            "variant": (np.int8, -1),
            "lat": (np.float64, np.nan),
            "lon": (np.float64, np.nan),
            "city": (np.int16, -1),
            "payload": (np.int32, -1),
        }
    )

    def __init__(self) -> None:
        self.cols: dict[str, list[Array]] = {k: [] for k in ("user", "t", "etype", *self._DEFAULTS)}

    def add(self, etype: str, user: Array, t: Array, **cols: Array | int | float) -> None:
        n = len(user)
        if n == 0:
            return
        self.cols["user"].append(np.asarray(user, dtype=np.int32))
        self.cols["t"].append(np.asarray(t, dtype=np.int64))
        self.cols["etype"].append(np.full(n, _ET[etype], dtype=np.int8))
        for key, (dtype, default) in self._DEFAULTS.items():
            val = cols.get(key, default)
            arr: Array = np.asarray(val, dtype=dtype)
            self.cols[key].append(np.broadcast_to(arr, (n,)).copy() if arr.ndim == 0 else arr)

    def concat(self) -> dict[str, Array]:
        return {k: np.concatenate(v) if v else np.zeros(0) for k, v in self.cols.items()}


def _utc_offsets(start: datetime, n_days: int, pad: int, zones: Sequence[str]) -> Array:
    """UTC offset (seconds) at local noon of every local day, per zone; DST-aware via zoneinfo."""
    out = np.zeros((len(zones), n_days + 2 * pad), dtype=np.int64)
    d0: date = (start - timedelta(days=pad)).date()
    for z, name in enumerate(zones):
        tz = ZoneInfo(name)
        for j in range(out.shape[1]):
            local = datetime.combine(d0 + timedelta(days=j), datetime.min.time()).replace(hour=12, tzinfo=tz)
            off = local.utcoffset()
            out[z, j] = int(off.total_seconds()) if off is not None else 0
    return out


def _build_items(
    cfg: DemoConfig, rng: np.random.Generator, city_names: Sequence[str]
) -> tuple[pd.DataFrame, Array, Array, Array, Array]:
    """Catalogue rows plus (category, price, in_stock, city-availability) arrays."""
    n = cfg.n_items
    cw = np.array([c.weight for c in _CATEGORIES])
    cat = np.concatenate(
        [np.arange(len(_CATEGORIES)), rng.choice(len(_CATEGORIES), n - len(_CATEGORIES), p=cw / cw.sum())]
    )
    rng.shuffle(cat)
    brand = rng.integers(len(_BRANDS), size=n)
    adj = rng.integers(len(_ADJECTIVES), size=n)
    noun = rng.integers(8, size=n)
    var = rng.integers(6, size=n)
    median = np.array([c.median_price for c in _CATEGORIES])[cat]
    price = np.exp(np.log(median) + rng.normal(0, 0.45, n))
    price = np.maximum(np.floor(price) + 0.9, 1.9).round(2)
    in_stock = rng.random(n) < 0.93
    has_video = rng.random(n) < 0.25
    is_books = cat == next(i for i, c in enumerate(_CATEGORIES) if c.key == "books")
    has_audio = rng.random(n) < np.where(is_books, 0.4, 0.02)
    fresh = np.isin(cat, [i for i, c in enumerate(_CATEGORIES) if c.key in ("snacks", "coffee_tea")])
    limited = rng.random(n) < np.where(fresh, 0.3, 0.1)
    cn_cities = [i for i, name in enumerate(city_names) if DEMO_CITIES[name].country == "CN"]
    ok = np.ones((n, len(city_names)), dtype=bool)
    cities_col = np.full(n, "", dtype=object)
    n_lim = rng.integers(1, 4, size=n)
    lim_order = rng.permuted(np.tile(np.array(cn_cities), (n, 1)), axis=1)
    tag_draw = rng.random((n, len(_TAGS))) < np.array([0.1, 0.15, 0.1, 0.15, 0.1, 0.05, 0.05])
    ids = _ids("i", n)
    rows_title, rows_zh, rows_desc, rows_desc_zh, rows_tags = [], [], [], [], []
    for i in range(n):
        c = _CATEGORIES[cat[i]]
        b, a, no, v = _BRANDS[brand[i]], _ADJECTIVES[adj[i]], c.nouns[noun[i]], c.variants[var[i]]
        rows_title.append(f"{b[0]} {a[0]} {no[0]}, {v[0]}")
        rows_zh.append(f"{b[1]}{a[1]}{no[1]} {v[1]}")
        where = ""
        where_zh = ""
        if limited[i]:
            chosen = sorted(lim_order[i, : n_lim[i]].tolist())
            ok[i] = False
            ok[i, chosen] = True
            cities_col[i] = "|".join(city_names[j] for j in chosen)
            where = f" Same-day delivery in {', '.join(city_names[j] for j in chosen)} only."
            where_zh = f"仅限{'、'.join(DEMO_CITIES[city_names[j]].name_zh for j in chosen)}当日达。"
        rows_desc.append(
            f"{a[0]} {no[0].lower()} by {b[0]} ({v[0]}), from our {c.name[0].lower()} range.{where}"
        )
        rows_desc_zh.append(f"{b[1]}{a[1]}{no[1]}（{v[1]}），{c.name[1]}精选。{where_zh}")
        rows_tags.append("|".join([c.key, *(t for t, on in zip(_TAGS, tag_draw[i], strict=True) if on)]))
    items = pd.DataFrame(
        {
            "item_id": ids,
            "title": rows_title,
            "title_zh": rows_zh,
            "description": rows_desc,
            "description_zh": rows_desc_zh,
            "category": [_CATEGORIES[k].key for k in cat],
            "price": price,
            "currency": "CNY",
            "image_url": [f"https://cdn.example.com/img/{i}.jpg" for i in ids],
            "video_url": [
                f"https://cdn.example.com/video/{i}.mp4" if h else ""
                for i, h in zip(ids, has_video, strict=True)
            ],
            "audio_url": [
                f"https://cdn.example.com/audio/{i}.mp3" if h else ""
                for i, h in zip(ids, has_audio, strict=True)
            ],
            "in_stock": in_stock,
            "cities": cities_col.astype(str),
            "tags": rows_tags,
        }
    )
    return items, cat, price, in_stock, ok


def _ids(prefix: str, n: int) -> list[str]:
    width = max(5, len(str(n)))
    return [f"{prefix}{k:0{width}d}" for k in range(1, n + 1)]


def _build_world(
    cfg: DemoConfig, rng: np.random.Generator
) -> tuple[_World, pd.DataFrame, pd.DataFrame, Array]:
    """Draw the catalogue, the users and their hidden traits; returns (world, items, users, cities)."""
    city_names = list(DEMO_CITIES)
    zones = sorted({c.timezone for c in DEMO_CITIES.values()})
    items, item_cat, price, in_stock, ok = _build_items(cfg, rng, city_names)
    n_cat = len(_CATEGORIES)
    cat_items: list[Array] = []
    cat_cdf: list[Array] = []
    item_pop = np.zeros(cfg.n_items)
    for c in range(n_cat):
        members = np.flatnonzero(item_cat == c)
        rank = rng.permutation(len(members))
        w = 1.0 / (rank + 1.0) ** 1.05
        item_pop[members] = w
        cat_items.append(members)
        cat_cdf.append(np.cumsum(w) / w.sum())
    cat_weight = np.array([c.weight for c in _CATEGORIES])
    cat_weight = cat_weight / cat_weight.sum()

    n, days = cfg.n_users, cfg.days
    cw = np.array([c.weight for c in DEMO_CITIES.values()])
    city = rng.choice(len(city_names), size=n, p=cw / cw.sum())
    cn = np.array([DEMO_CITIES[c].country == "CN" for c in city_names])[city]
    locale = rng.random(n) < np.where(cn, 0.93, np.where(np.array(city_names)[city] == "Singapore", 0.5, 0.3))
    locale = locale.astype(np.int8)
    tz_index = {z: i for i, z in enumerate(zones)}
    user_tz = np.array([tz_index[DEMO_CITIES[c].timezone] for c in city_names])[city]

    activity = rng.choice(3, size=n, p=[0.15, 0.40, 0.45])
    seg_p = np.array([[0.15, 0.20, 0.35, 0.30], [0.25, 0.20, 0.40, 0.15], [0.45, 0.20, 0.30, 0.05]])
    u = rng.random(n)[:, None]
    segment = (u > np.cumsum(seg_p[activity], axis=1)).sum(axis=1)
    segment = np.minimum(segment, 3)
    keys = np.log(cat_weight)[None, :] + rng.gumbel(size=(n, n_cat))
    prefs = np.argsort(-keys, axis=1)[:, :3]
    n_prefs = rng.choice([1, 2, 3], size=n, p=[0.3, 0.45, 0.25])
    peak1 = rng.choice(_PEAKS, size=n, p=_PEAK_P)
    second = rng.choice(_PEAKS, size=n, p=_PEAK_P)
    far = np.abs(((second - peak1) + 12) % 24 - 12) >= 3
    n_peaks = np.where(far & (rng.random(n) < 0.55), 2, 1)
    peak2 = np.where(n_peaks == 2, second, peak1)
    peak_share = rng.uniform(0.6, 0.85, n)
    sens = np.exp(rng.normal(np.log(0.8), 0.5, n))
    cart_base = np.array([0.03, 0.18, 0.12, 0.14])[segment] * np.exp(rng.normal(0, 0.3, n))
    p_buy = np.array([0.0, 0.06, 0.45, 0.62])[segment] * np.exp(rng.normal(0, 0.2, n))
    p_buy = np.clip(p_buy, 0, 0.95)
    p_search = np.clip(np.array([0.35, 0.25, 0.2, 0.15])[segment] * np.exp(rng.normal(0, 0.3, n)), 0, 0.9)
    p_geo = np.where(rng.random(n) < 0.6, 0.1, 0.0)
    view_rate = np.array([2.6, 1.8, 1.2])[activity] * np.exp(rng.normal(0, 0.25, n))
    repurchase = np.array([0.0, 0.1, 0.35, 0.75])[segment]
    paff = rng.normal(0, 1, n) + np.array([0.3, 0.0, -0.2])[activity]
    eaff = rng.normal(0, 1, n)
    sat = rng.normal(0, 1, n)

    pre = rng.random(n) < 0.6
    signup_day = np.where(pre, -rng.uniform(1, 365, n), rng.uniform(0, days, n))
    act0 = np.maximum(signup_day, 0.0)
    log_scale = (
        np.log(130)
        + np.array([0.35, 0.0, -0.35])[activity]
        + np.array([-0.25, -0.1, 0.2, 0.5])[segment]
        + 0.35 * paff
        + 0.3 * sat
        - 0.4 * (signup_day > -30)
        + rng.normal(0, 0.45, n)
    )
    tau = act0 + np.exp(log_scale) * rng.weibull(1.5, n)
    quick = (~pre) & (rng.random(n) < 0.3)  # signups that never get going
    tau = np.where(quick, act0 + rng.exponential(5.0, n), tau)
    uninstall = rng.random(n) < 0.5

    names = np.where(
        locale == 1,
        rng.choice(np.array(_NAMES_ZH, dtype=object), n),
        rng.choice(np.array(_NAMES_EN, dtype=object), n),
    )
    push_in = rng.random(n) < np.where(cn, 0.82, 0.7)
    sms_in = rng.random(n) < np.where(cn, 0.35, 0.15)
    email_in = rng.random(n) < np.where(cn, 0.4, 0.6)
    quiet = np.where(rng.random(n) < 0.3, rng.choice(np.array(_QUIET_HOURS, dtype=object), n), "")
    signup_sec = rng.uniform(9 * 3600, 23 * 3600, n)  # signups happen while awake (approximately)

    pad = 60
    start_dt = cfg.end.astimezone(UTC) - timedelta(days=days)
    offsets = _utc_offsets(start_dt, days, pad, zones)
    start = int(start_dt.timestamp())
    users = pd.DataFrame(
        {
            "user_id": _ids("u", n),
            "city": np.array(city_names, dtype=object)[city],
            "timezone": np.array(zones, dtype=object)[user_tz],
            "locale": np.array(LOCALES, dtype=object)[locale],
            "country": np.array([DEMO_CITIES[c].country for c in city_names], dtype=object)[city],
            "push_opt_in": push_in,
            "sms_opt_in": sms_in,
            "email_opt_in": email_in,
            "quiet_hours": quiet,
            "first_name": names,
        }
    )
    world = _World(
        cfg=cfg,
        start=start,
        item_cat=item_cat,
        item_price=price,
        item_in_stock=in_stock,
        item_ok=ok,
        cat_items=cat_items,
        cat_cdf=cat_cdf,
        item_pop=item_pop,
        cat_weight=cat_weight,
        cat_cycle=np.array([c.cycle_days for c in _CATEGORIES]),
        user_city=city.astype(np.int16),
        user_tz=user_tz,
        user_locale=locale,
        prefs=prefs,
        n_prefs=n_prefs,
        peak1=peak1,
        peak2=peak2,
        n_peaks=n_peaks,
        peak_share=peak_share,
        sens=sens,
        cart_base=cart_base,
        p_buy=p_buy,
        p_search=p_search,
        p_geo=p_geo,
        view_rate=view_rate,
        repurchase=repurchase,
        paff=paff,
        eaff=eaff,
        sat=sat,
        tau=tau,
        uninstall=uninstall,
        signup_day=signup_day,
        offsets=offsets,
        day_pad=pad,
    )
    # Search queries: per category and locale, the category word and its product nouns.
    q = np.zeros((n_cat, 2, 9), dtype=np.int32)
    for c, spec in enumerate(_CATEGORIES):
        for loc in (0, 1):
            words = [spec.name[loc], *(p[loc] for p in spec.nouns)]
            for k, wd in enumerate(words):
                q[c, loc, k] = world.payload({"query": wd.lower() if loc == 0 else wd})
    world.query_codes = q
    users["_signup_sec"] = signup_sec
    users["_activity"] = np.array(_ACTIVITY, dtype=object)[activity]
    users["_segment"] = np.array(_SEGMENTS, dtype=object)[segment]
    return world, items, users, np.array(city_names, dtype=object)


# --------------------------------------------------------------------------------------------- samplers


def _local_seconds(w: _World, users: Array, rng: np.random.Generator) -> Array:
    """Seconds into the local day, clustered around the user's peak hours."""
    n = len(users)
    on_peak = rng.random(n) < w.peak_share[users]
    second = (w.n_peaks[users] == 2) & (rng.random(n) < 0.4)
    peak = np.where(second, w.peak2[users], w.peak1[users])
    h_peak = peak + 0.5 + rng.normal(0, 0.6, n)
    h_bg = rng.uniform(7, 24.5, n)
    h = np.where(on_peak, h_peak, h_bg) % 24
    return (h * 3600).astype(np.int64)


def _to_utc(w: _World, users: Array, day: Array, local_sec: Array) -> Array:
    """Epoch seconds of ``local_sec`` on the user's local day ``day`` (days from the window start)."""
    di = np.clip(day.astype(np.int64) + w.day_pad, 0, w.offsets.shape[1] - 1)
    off = w.offsets[w.user_tz[users], di]
    return w.start + day.astype(np.int64) * _DAY + local_sec.astype(np.int64) - off


def _hour_match(w: _World, users: Array, hour: Array) -> Array:
    """1 when ``hour`` sits in a peak hour of the user, falling off over about two hours."""
    best = np.full(len(users), 12.0)
    for peak in (w.peak1[users], w.peak2[users]):
        d = np.abs(((hour - (peak + 0.5)) + 12) % 24 - 12)
        best = np.minimum(best, d)
    return np.exp(-(best**2) / (2 * 1.3**2))


def _sample_category_items(w: _World, cats: Array, rng: np.random.Generator) -> Array:
    """One item per draw, Zipf-popular within the given category."""
    out = np.empty(len(cats), dtype=np.int32)
    u = rng.random(len(cats))
    for c in range(len(w.cat_items)):
        m = cats == c
        if m.any():
            out[m] = w.cat_items[c][np.minimum(np.searchsorted(w.cat_cdf[c], u[m]), len(w.cat_items[c]) - 1)]
    return out


def _sigmoid(x: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-x))


def _within(gaps: Array, counts: Array) -> Array:
    """Cumulative sum of ``gaps`` restarted at every group (consecutive groups of sizes ``counts``)."""
    cs = np.cumsum(gaps)
    nz = counts > 0
    first = (np.cumsum(counts) - counts)[nz]
    return cs - np.repeat(cs[first] - gaps[first], counts[nz])


def _sessions(
    w: _World, parts: _Parts, s_user: Array, s_t: Array, s_item: Array, s_buy: Array, rng: np.random.Generator
) -> tuple[Array, Array, Array]:
    """Turn sessions into events; returns the purchases (user, t, item)."""
    n = len(s_user)
    if n == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e
    parts.add("app_open", s_user, s_t)
    forced = s_item >= 0
    pick_pref = rng.random(n) < 0.7
    j = (rng.random(n) * w.n_prefs[s_user]).astype(np.int64)
    s_cat = np.where(pick_pref, w.prefs[s_user, j], rng.choice(len(w.cat_items), n, p=w.cat_weight))
    s_cat = np.where(forced, w.item_cat[np.maximum(s_item, 0)], s_cat)
    searched = (rng.random(n) < w.p_search[s_user]) & ~forced
    qk = rng.integers(w.query_codes.shape[2], size=n)
    sq = searched.nonzero()[0]
    parts.add(
        "search",
        s_user[sq],
        s_t[sq] + rng.integers(5, 40, len(sq)),
        payload=w.query_codes[s_cat[sq], w.user_locale[s_user[sq]], qk[sq]],
    )
    nv = 1 + rng.poisson(w.view_rate[s_user])
    vi = np.repeat(np.arange(n), nv)
    pos = np.arange(len(vi)) - np.repeat(np.cumsum(nv) - nv, nv)
    gaps = rng.exponential(40.0, len(vi)) + 5
    tv = s_t[vi] + 20 + 40 * searched[vi] + _within(gaps, nv).astype(np.int64)
    vcat = s_cat[vi]
    switch = (pos > 0) & (rng.random(len(vi)) < 0.2)
    vcat = np.where(switch, rng.choice(len(w.cat_items), len(vi), p=w.cat_weight), vcat)
    item = _sample_category_items(w, vcat, rng)
    first_forced = (pos == 0) & forced[vi]
    item = np.where(first_forced, s_item[vi], item)
    vu = s_user[vi]
    keep = w.item_ok[item, w.user_city[vu]] | first_forced
    vi, tv, item, vu, first_forced = vi[keep], tv[keep], item[keep], vu[keep], first_forced[keep]
    parts.add("view", vu, tv, item=item)
    median = np.array([c.median_price for c in _CATEGORIES])[w.item_cat[item]]
    factor = np.clip((w.item_price[item] / median) ** (-w.sens[vu]), 0.25, 2.5)
    pc = np.where(first_forced & s_buy[vi], 0.92, w.cart_base[vu] * factor) * w.item_in_stock[item]
    carted = rng.random(len(vi)) < pc
    ci = carted.nonzero()[0]
    cu, citem = vu[ci], item[ci]
    tc = tv[ci] + rng.integers(15, 120, len(ci))
    parts.add("add_to_cart", cu, tc, item=citem, qty=1.0)
    pb = np.where(first_forced[ci] & s_buy[vi[ci]], 0.9, w.p_buy[cu])
    bought = rng.random(len(ci)) < pb
    consumable = w.cat_cycle[w.item_cat[citem]] > 0
    qty = np.where(consumable, np.minimum(rng.geometric(0.6, len(ci)), 6), 1 + (rng.random(len(ci)) < 0.07))
    tp = tc + rng.integers(60, 900, len(ci))
    bi = bought.nonzero()[0]
    parts.add(
        "purchase",
        cu[bi],
        tp[bi],
        item=citem[bi],
        qty=qty[bi].astype(np.float64),
        value=np.round(w.item_price[citem[bi]] * qty[bi], 2),
    )
    ri = (~bought & (rng.random(len(ci)) < 0.3)).nonzero()[0]
    parts.add("remove_from_cart", cu[ri], tc[ri] + rng.integers(30, 900, len(ri)), item=citem[ri], qty=1.0)
    gi = (rng.random(n) < w.p_geo[s_user]).nonzero()[0]
    gu = s_user[gi]
    travel = rng.random(len(gi)) < 0.05
    gcity = np.where(travel, rng.integers(len(DEMO_CITIES), size=len(gi)), w.user_city[gu]).astype(np.int16)
    lat = np.array([c.lat for c in DEMO_CITIES.values()])[gcity] + rng.normal(0, 0.04, len(gi))
    lon = np.array([c.lon for c in DEMO_CITIES.values()])[gcity] + rng.normal(0, 0.04, len(gi))
    parts.add(
        "geo_enter",
        gu,
        s_t[gi] + rng.integers(5, 600, len(gi)),
        lat=lat.round(5),
        lon=lon.round(5),
        city=gcity,
    )
    return cu[bi], tp[bi], citem[bi]


# --------------------------------------------------------------------------------------------- main


def generate_demo_frames(config: DemoConfig | None = None, *, progress: bool = True) -> DemoFrames:
    """Simulate the app in memory; :func:`generate_demo` writes the result."""
    cfg = config or DemoConfig()
    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    bar = tqdm(total=6, desc="demo-data", disable=not progress, unit="step")
    w, items, users, city_names = _build_world(cfg, rng)
    bar.update()
    n, days = cfg.n_users, cfg.days
    end = w.start + days * _DAY
    parts = _Parts()

    counts, eng = _activity_matrix(w, users, rng)
    bar.update()

    # organic sessions + one onboarding session per in-window signup
    uu, dd = np.nonzero(counts)
    reps = counts[uu, dd]
    s_user = np.repeat(uu, reps).astype(np.int64)
    s_day = np.repeat(dd, reps).astype(np.int64)
    s_t = _to_utc(w, s_user, s_day, _local_seconds(w, s_user, rng))
    sd = np.floor(w.signup_day).astype(np.int64)
    signup_t = _to_utc(w, np.arange(n), sd, users["_signup_sec"].to_numpy())
    new = np.flatnonzero((sd >= 0) & (sd < days))
    s_user = np.concatenate([s_user, new])
    s_t = np.concatenate([s_t, signup_t[new] + 60])

    # messaging: last day with a session (pre-window users count as active at the start)
    last = np.where(counts > 0, np.arange(days, dtype=np.int32)[None, :], np.int32(-(10**6)))
    base = np.where(w.signup_day < 0, -1, np.where((sd >= 0) & (sd < days), sd, -(10**6))).astype(np.int32)
    last[(sd >= 0) & (sd < days), np.clip(sd, 0, days - 1)[(sd >= 0) & (sd < days)]] = sd[
        (sd >= 0) & (sd < days)
    ]
    last = np.maximum.accumulate(np.maximum(last, base[:, None]), axis=1)
    m_user, m_t, m_item, campaigns = _messaging(w, users, parts, eng, last, signup_t, rng)
    bar.update()

    s_user = np.concatenate([s_user, m_user])
    s_t = np.concatenate([s_t, m_t])
    s_item = np.concatenate([np.full(len(s_user) - len(m_item), -1, dtype=np.int64), m_item])
    s_buy = np.zeros(len(s_user), dtype=bool)
    p_user, p_t, p_item = _sessions(w, parts, s_user, s_t, s_item, s_buy, rng)
    all_p = [(p_user, p_t, p_item)]
    # consumables come back one cycle later while the user is still around
    for _ in range(64):
        cyc = w.cat_cycle[w.item_cat[p_item]]
        again = (cyc > 0) & (rng.random(len(p_user)) < w.repurchase[p_user])
        nxt_day = np.floor((p_t - w.start) / _DAY + cyc * rng.gamma(6.0, 1.0 / 6.0, len(p_user))).astype(
            np.int64
        )
        again &= (nxt_day < days) & (nxt_day + 0.5 < w.tau[p_user])
        ri = again.nonzero()[0]
        if len(ri) == 0:
            break
        ru = p_user[ri]
        rt = _to_utc(w, ru, nxt_day[ri], _local_seconds(w, ru, rng))
        p_user, p_t, p_item = _sessions(w, parts, ru, rt, p_item[ri], np.ones(len(ri), dtype=bool), rng)
        all_p.append((p_user, p_t, p_item))
    bar.update()

    # feedback a few days after some purchases, from users still around
    fu = np.concatenate([a[0] for a in all_p])
    ft = np.concatenate([a[1] for a in all_p])
    fi = np.concatenate([a[2] for a in all_p])
    pick = (rng.random(len(fu)) < 0.12).nonzero()[0]
    fu, ft, fi = fu[pick], ft[pick], fi[pick]
    fday = np.floor((ft - w.start) / _DAY + 2 + rng.gamma(2.0, 1.5, len(fu))).astype(np.int64)
    ok = fday + 0.5 < w.tau[fu]
    fu, fi, fday = fu[ok], fi[ok], fday[ok]
    rating = np.clip(np.round(3.9 + 0.7 * w.sat[fu] + rng.normal(0, 0.9, len(fu))), 1, 5).astype(int)
    codes = np.array([w.payload({"rating": r}) for r in range(1, 6)], dtype=np.int32)
    parts.add(
        "feedback", fu, _to_utc(w, fu, fday, _local_seconds(w, fu, rng)), item=fi, payload=codes[rating - 1]
    )
    bar.update()

    events = _assemble(w, parts, city_names, items, users, end, campaigns)
    users_out = _users_frame(users, signup_t)
    truth = pd.DataFrame(
        {
            "user_id": users["user_id"],
            "activity": users["_activity"],
            "segment": users["_segment"],
            "peak_hour_1": w.peak1,
            "peak_hour_2": np.where(w.n_peaks == 2, w.peak2, -1),
            "preferred_categories": [
                "|".join(_CATEGORIES[c].key for c in row[:k])
                for row, k in zip(w.prefs, w.n_prefs, strict=True)
            ],
            "churn_ts": pd.to_datetime(w.start + w.tau * _DAY, unit="s", utc=True),
            "uninstalled": w.uninstall,
            "push_affinity": w.paff,
        }
    )
    bar.update()
    bar.close()
    logger.info("demo data: %d users, %d items, %d events over %d days", n, cfg.n_items, len(events), days)
    return DemoFrames(events=events, items=items, users=users_out, truth=truth)


def _activity_matrix(w: _World, users: pd.DataFrame, rng: np.random.Generator) -> tuple[Array, Array]:
    """Daily session counts (users x days) and the engagement level behind them."""
    cfg = w.cfg
    n, days = cfg.n_users, cfg.days
    d = np.arange(days, dtype=np.float64)[None, :] + 0.5
    tau = w.tau[:, None]
    ramp_len = rng.uniform(7, 28, n)[:, None]
    ramp = np.clip((tau - d) / ramp_len, 0.0, 1.0)
    ghost = np.where(w.uninstall, 0.0, 0.02)[:, None]
    eng = np.where(d < tau, 0.15 + 0.85 * ramp, ghost)
    since = d - w.signup_day[:, None]
    eng = np.where(since < 0, 0.0, eng)
    boost = 1.0 + np.exp(-np.clip(since, 0, None) / 5.0)
    drift = np.exp(rng.normal(0, 0.5, n)[:, None] * (d - days / 2) / max(days, 1))
    lam = pd.Series(users["_activity"]).map({"heavy": 1.3, "regular": 0.4, "light": 0.1}).to_numpy(np.float64)
    activity = lam * np.exp(rng.normal(0, 0.35, n))
    start_wd = datetime.fromtimestamp(w.start, UTC).weekday()
    wd = (start_wd + np.arange(days)) % 7
    daily = np.where(wd >= 5, 1.2, 1.0)
    if days >= 10:
        daily[int(days * 0.6)] *= 1.8  # one site-wide sale day
    # a third of users take a break (travel, exams, a busy month) and come back: silence that is not
    # churn; they still glance at pushes, so push engagement tells a break from a departure
    on_break = rng.random(n) < 0.35
    b0 = rng.uniform(-10, days, n)
    b1 = b0 + rng.uniform(7, 25, n)
    pause = np.where(on_break[:, None] & (d >= b0[:, None]) & (d < b1[:, None]), 0.05, 1.0)
    rate = (eng * pause * boost * drift * daily[None, :] * activity[:, None]).astype(np.float32)
    rate *= rng.gamma(3.0, 1.0 / 3.0, size=rate.shape).astype(np.float32)
    counts = rng.poisson(rate).astype(np.int32)
    sd = np.floor(w.signup_day).astype(np.int64)
    inwin = (sd >= 0) & (sd < days)
    counts[inwin.nonzero()[0], sd[inwin]] = 0  # the signup day gets one onboarding session instead
    return counts, eng.astype(np.float32)


def _quiet_bounds(quiet: pd.Series) -> tuple[Array, Array]:
    """(start, end) hour of each user's quiet window, -1 when none."""
    parts = quiet.astype(str).str.extract(r"^(\d{1,2})-(\d{1,2})$")
    qs = pd.to_numeric(parts[0], errors="coerce").fillna(-1).to_numpy(np.int64)
    qe = pd.to_numeric(parts[1], errors="coerce").fillna(-1).to_numpy(np.int64)
    return qs, qe


def _messaging(
    w: _World,
    users: pd.DataFrame,
    parts: _Parts,
    eng: Array,
    last: Array,
    signup_t: Array,
    rng: np.random.Generator,
) -> tuple[Array, Array, Array, list[str]]:
    """Push, SMS and email campaigns; returns the sessions their clicks start (user, t, item) and the
    campaign ids."""
    cfg = w.cfg
    n, days = cfg.n_users, cfg.days
    push_on = users["push_opt_in"].to_numpy(bool).copy()
    email_on = users["email_opt_in"].to_numpy(bool).copy()
    sms_on = users["sms_opt_in"].to_numpy(bool)
    qs, qe = _quiet_bounds(users["quiet_hours"])
    dismissed = np.zeros(n)
    pref_mask = np.zeros((n, len(_CATEGORIES)), dtype=bool)
    for k in range(3):
        rows = np.flatnonzero(w.n_prefs > k)
        pref_mask[rows, w.prefs[rows, k]] = True
    out_u: list[Array] = []
    out_t: list[Array] = []
    out_i: list[Array] = []
    campaigns: list[str] = []
    users_all = np.arange(n)
    start_date = datetime.fromtimestamp(w.start, UTC).date()
    push_days = rng.random(days) < cfg.push_per_week / 7
    sms_days = rng.random(days) < cfg.sms_per_week / 7
    email_days = rng.random(days) < cfg.email_per_week / 7
    everywhere = w.item_ok.all(axis=1) & w.item_in_stock
    for day in range(days):
        stamp = (start_date + timedelta(days=day)).strftime("%Y%m%d")
        dvec = np.full(n, day, dtype=np.int64)
        signed = signup_t < w.start + (day - 1) * _DAY  # signed up before the day before the send
        e_now = eng[:, day]
        recent = (day - last[:, max(day - 1, 0)]) <= 45 if day > 0 else w.signup_day < 0
        if push_days[day]:
            cat = int(rng.choice(len(_CATEGORIES), p=w.cat_weight))
            pool = w.cat_items[cat][everywhere[w.cat_items[cat]]]
            if len(pool) == 0:
                pool = w.cat_items[cat]
            top = pool[np.argsort(-w.item_pop[pool], kind="stable")][:5]
            item = int(rng.choice(top))
            code = len(campaigns)
            campaigns.append(f"push-{stamp}")
            camp_hour = int(rng.choice([9, 12, 18, 20]))
            installed = ~(w.uninstall & (day + 0.5 > w.tau))
            elig = push_on & signed & installed & recent & (rng.random(n) < 0.8)
            u = users_all[elig]
            hour = np.where(rng.random(len(u)) < 0.5, camp_hour, rng.integers(8, 22, len(u))).astype(np.int64)
            qsu, qeu = qs[u], qe[u]
            in_quiet = np.where(qsu > qeu, (hour >= qsu) | (hour < qeu), (hour >= qsu) & (hour < qeu)) & (
                qsu >= 0
            )
            hour = np.where(in_quiet, qeu, hour)
            sec = hour * 3600 + rng.integers(0, 600, len(u))
            t = _to_utc(w, u, dvec[u], sec)
            variant = (rng.random(len(u)) < 0.5).astype(np.int8)
            match = _hour_match(w, u, sec / 3600.0)
            taste = pref_mask[u, cat]
            logit = -4.8 + 0.9 * w.paff[u] + 2.4 * match + 1.6 * e_now[u] + 0.6 * taste + 0.25 * variant
            opened = rng.random(len(u)) < _sigmoid(logit)
            common = {"channel": _CH["app_push"], "campaign": code}
            parts.add("push_delivered", u, t, item=item, variant=variant, **common)
            oi = opened.nonzero()[0]
            t_open = t[oi] + (rng.exponential(15 * 60, len(oi)) + 5).astype(np.int64)
            parts.add("push_opened", u[oi], t_open, item=item, variant=variant[oi], **common)
            clicked = rng.random(len(oi)) < 0.5 + 0.25 * taste[oi]
            ki = oi[clicked]
            t_click = t_open[clicked] + rng.integers(2, 20, len(ki))
            parts.add("push_clicked", u[ki], t_click, item=item, variant=variant[ki], **common)
            out_u.append(u[ki])
            out_t.append(t_click + 3)
            out_i.append(np.full(len(ki), item))
            di = (~opened & (rng.random(len(u)) < 0.3)).nonzero()[0]
            t_dis = t[di] + (rng.exponential(30 * 60, len(di)) + 5).astype(np.int64)
            parts.add("push_dismissed", u[di], t_dis, item=item, variant=variant[di], **common)
            dismissed[u[di]] += 1
            du = u[di]
            unsub = rng.random(len(di)) < 0.002 + 0.006 * dismissed[du] * (1.2 - e_now[du])
            parts.add(
                "unsubscribe", du[unsub], t_dis[unsub] + rng.integers(2, 30, int(unsub.sum())), **common
            )
            push_on[du[unsub]] = False
        if sms_days[day]:
            code = len(campaigns)
            campaigns.append(f"sms-{stamp}")
            cat = int(rng.choice(len(_CATEGORIES), p=w.cat_weight))
            item = int(w.cat_items[cat][0])
            elig = sms_on & signed & (rng.random(n) < 0.7)
            u = users_all[elig]
            p = _sigmoid(-4.2 + 1.8 * e_now[u] + 0.6 * pref_mask[u, cat])
            ku = u[rng.random(len(u)) < p]
            t = _to_utc(w, ku, dvec[ku], np.full(len(ku), 11 * 3600) + rng.integers(60, 3 * 3600, len(ku)))
            variant = (rng.random(len(ku)) < 0.5).astype(np.int8)
            parts.add("sms_clicked", ku, t, item=item, channel=_CH["sms"], campaign=code, variant=variant)
            out_u.append(ku)
            out_t.append(t + 5)
            out_i.append(np.full(len(ku), item))
        if email_days[day]:
            code = len(campaigns)
            campaigns.append(f"email-{stamp}")
            cat = int(rng.choice(len(_CATEGORIES), p=w.cat_weight))
            item = int(w.cat_items[cat][0])
            elig = email_on & signed & (rng.random(n) < 0.9)
            u = users_all[elig]
            p = _sigmoid(-3.4 + 2.2 * e_now[u] + 0.7 * w.eaff[u])
            ou = u[rng.random(len(u)) < p]
            sec = _local_seconds(w, ou, rng)
            oday = dvec[ou] + (sec < 10 * 3600)  # sent at 10:00 local; read at the next active moment
            t = _to_utc(w, ou, oday, sec)
            variant = (rng.random(len(ou)) < 0.5).astype(np.int8)
            common = {"channel": _CH["email"], "campaign": code}
            parts.add("email_opened", ou, t, item=item, variant=variant, **common)
            clicked = rng.random(len(ou)) < 0.15 + 0.2 * pref_mask[ou, cat]
            t_click = t[clicked] + rng.integers(10, 120, int(clicked.sum()))
            parts.add("email_clicked", ou[clicked], t_click, item=item, variant=variant[clicked], **common)
            out_u.append(ou[clicked])
            out_t.append(t_click + 5)
            out_i.append(np.full(int(clicked.sum()), item))
            un = rng.random(len(u)) < 0.0015 * (1.5 - e_now[u])
            uu = u[un]
            t_un = _to_utc(w, uu, dvec[uu], _local_seconds(w, uu, rng))
            parts.add("unsubscribe", uu, t_un, **common)
            email_on[uu] = False
    users["push_opt_in"] = push_on
    users["email_opt_in"] = email_on
    cat_u = np.concatenate(out_u) if out_u else np.zeros(0, dtype=np.int64)
    cat_t = np.concatenate(out_t) if out_t else np.zeros(0, dtype=np.int64)
    cat_i = np.concatenate(out_i) if out_i else np.zeros(0, dtype=np.int64)
    return cat_u.astype(np.int64), cat_t.astype(np.int64), cat_i.astype(np.int64), campaigns


def _iso_utc(t: Array) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SSZ`` for epoch seconds, by joining a per-day and a per-second table.

    numpy's and Arrow's own formatters take tens of seconds on the 20M stamps of a 100k-user run.
    """
    if len(t) == 0:
        return pa.array([], type=pa.string())
    day = t // _DAY
    d0 = int(day.min())
    di = day - d0
    sod = t - day * _DAY
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    days = [(epoch + timedelta(days=d0 + k)).strftime("%Y-%m-%dT") for k in range(int(di.max()) + 1)]
    clock = [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]
    return pc.binary_join_element_wise(
        pa.array(days).take(pa.array(di)), pa.array(clock).take(pa.array(sod)), ""
    )


def _assemble(
    w: _World,
    parts: _Parts,
    city_names: Array,
    items: pd.DataFrame,
    users: pd.DataFrame,
    end: int,
    campaigns: list[str],
) -> pd.DataFrame:
    """Concatenate the batches, keep the window, sort by time and give every event an id."""
    c = parts.concat()
    keep = (c["t"] >= w.start) & (c["t"] < end)
    order = np.flatnonzero(keep)[np.argsort(c["t"][keep], kind="stable")]
    c = {k: v[order] for k, v in c.items()}
    n = len(order)
    city = np.where(c["city"] >= 0, c["city"], w.user_city[c["user"]]).astype(np.int64)
    qty = pd.array(np.where(np.isnan(c["qty"]), 0, c["qty"]).astype(np.int64), dtype="Int64")
    qty[np.isnan(c["qty"])] = pd.NA
    width = max(8, len(str(n)))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), width, "0")
    ids = pc.binary_join_element_wise("e", digits, "")
    return pd.DataFrame(
        {
            "user_id": pd.Categorical.from_codes(c["user"], categories=users["user_id"].tolist()),
            "ts": pd.arrays.ArrowExtensionArray(_iso_utc(c["t"])),
            "event_type": pd.Categorical.from_codes(
                c["etype"].astype(np.int64), categories=list(EVENT_TYPES)
            ),
            "event_id": pd.arrays.ArrowExtensionArray(ids),
            "item_id": pd.Categorical.from_codes(
                c["item"].astype(np.int64), categories=items["item_id"].tolist()
            ),
            "quantity": qty,
            "value": c["value"],
            "channel": pd.Categorical.from_codes(c["channel"].astype(np.int64), categories=list(CHANNELS)),
            "campaign_id": pd.Categorical.from_codes(
                c["campaign"].astype(np.int64), categories=list(campaigns)
            ),
            "variant": pd.Categorical.from_codes(c["variant"].astype(np.int64), categories=list(_VARIANTS)),
            "lat": c["lat"],
            "lon": c["lon"],
            "city": pd.Categorical.from_codes(city, categories=list(city_names)),
            "payload": pd.Categorical.from_codes(c["payload"].astype(np.int64), categories=list(w.payloads)),
        }
    )


def _users_frame(users: pd.DataFrame, signup_t: Array) -> pd.DataFrame:
    """The users table as an app knows it (hidden traits dropped)."""
    out = users[[c for c in users.columns if not c.startswith("_")]].copy()
    out.insert(1, "signup_ts", np.datetime_as_string(signup_t.astype("datetime64[s]"), timezone="UTC"))
    return out[list(USER_COLUMNS)]


def _write_events(events: pd.DataFrame, path: Path) -> None:
    """Write the events as gzip CSV with Arrow's writer and a zeroed gzip mtime.

    ``write_table`` would go through pandas at gzip level 9 with the current time in the header:
    several times slower on millions of rows, and not byte-identical for a seed. The text is the
    same canonical CSV (ISO-8601 ``Z`` timestamps, empty cells for missing values).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(events, preserve_index=False)
    schema = pa.schema(
        [pa.field(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type) for f in table.schema]
    )
    with gzip.GzipFile(path, "wb", compresslevel=6, mtime=0) as out:
        pacsv.write_csv(table.cast(schema), out)


def generate_demo(
    out_dir: Path,
    *,
    n_users: int = 5000,
    n_items: int = 1000,
    days: int = 120,
    end: datetime | None = None,
    seed: int = 42,
    progress: bool = True,
) -> DemoPaths:
    """Write a seeded demo app (``events.csv.gz``, ``items.csv``, ``users.csv``) into ``out_dir``."""
    cfg = DemoConfig(n_users=n_users, n_items=n_items, days=days, end=end or DEFAULT_END, seed=seed)
    return write_demo(generate_demo_frames(cfg, progress=progress), out_dir)


def write_demo(frames: DemoFrames, out_dir: Path) -> DemoPaths:
    """Write simulated frames as the three canonical files (the hidden truth stays in memory)."""
    out = Path(out_dir)
    paths = DemoPaths(events=out / "events.csv.gz", items=out / "items.csv", users=out / "users.csv")
    write_table(frames.items, paths.items)
    write_table(frames.users, paths.users)
    _write_events(frames.events, paths.events)
    logger.info("demo data written to %s", out)
    return paths


__all__ = [
    "DEFAULT_END",
    "DEMO_CITIES",
    "DemoCity",
    "DemoConfig",
    "DemoFrames",
    "DemoPaths",
    "generate_demo",
    "generate_demo_frames",
    "write_demo",
]

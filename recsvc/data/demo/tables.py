"""The fixed tables the demo world is drawn from: cities, product categories with their words,
brands, adjectives, tags, first names, quiet hours, peak hours and the users' hidden kinds.

Every word comes as an (en-US, zh-CN) pair where the app shows it in both languages. The module
is pure data (no logic); most of its length is the twelve categories' product nouns and variants.
Changing any entry or its order changes every generated demo, since the simulator draws indices
into these tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


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
class Category:
    """A product category: its words, price level, share of the shop and repurchase cycle."""

    key: str
    name: Pair
    median_price: float  # CNY
    weight: float  # share of catalogue and of browsing
    cycle_days: float  # repurchase cycle; 0 = not a consumable
    nouns: tuple[Pair, ...]
    variants: tuple[Pair, ...]


CATEGORIES: tuple[Category, ...] = (
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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

BRANDS: tuple[Pair, ...] = (
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
ADJECTIVES: tuple[Pair, ...] = (
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
TAGS: tuple[str, ...] = ("new", "bestseller", "gift", "sale", "imported", "eco", "limited")
TAG_P: tuple[float, ...] = (0.1, 0.15, 0.1, 0.15, 0.1, 0.05, 0.05)  # chance an item carries each tag
NAMES_ZH: tuple[str, ...] = (
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
NAMES_EN: tuple[str, ...] = (
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
QUIET_HOURS: tuple[str, ...] = ("22-8", "23-7", "22-7", "0-8", "23-8")
# Local peak hours: morning commute, lunch, evening and late night.
PEAKS: tuple[int, ...] = (8, 12, 19, 20, 21, 22, 23)
PEAK_P: tuple[float, ...] = (0.15, 0.20, 0.12, 0.15, 0.18, 0.12, 0.08)
# Hidden kinds of user: how they shop and how often they come.
SEGMENTS: tuple[str, ...] = ("browser", "abandoner", "buyer", "loyal")
ACTIVITY: tuple[str, ...] = ("heavy", "regular", "light")

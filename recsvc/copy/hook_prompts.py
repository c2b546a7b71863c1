"""What the hook writer asks a model for: a few-shot prompt per locale and a grammar for the answer.

The model writes one short line (the "hook") as ``{"hook": "..."}``; the item's name, price, offer
and link come from the request and are filled into the message around it (:mod:`recsvc.copy.hooks`).
A small *base* model continues a pattern far better than it follows instructions, so the prompt is
mostly worked examples in the reader's language; the zh-CN examples are written in Chinese, not
translated. Every example item is invented (no demo or catalog product), so a model copying one is
caught as an invented item.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from recsvc.copy.types import CopyRequest

# Bump when the prompt or grammar changes: cached hooks written by the old prompt are not reused.
HOOK_PROMPT_VERSION = "hook-v2"


@dataclass(frozen=True)
class HookExample:
    """A worked example; ``about`` are its hook's words true only of its product (a small model
    copies them onto any item: "eye care" for earphones)."""

    stage: str
    item: str
    hook: str
    about: tuple[str, ...] = ()


# What the hook should do per lifecycle stage; only stage facts, never a trigger's claim (cart, price).
MOMENTS: dict[str, dict[str, str]] = {
    "en-US": {
        "awareness": "welcome a new shopper",
        "interest": "why people like it",
        "purchase": "a nudge to order",
        "loyal": "a pick for a regular",
        "churning": "welcome back",
    },
    "zh-CN": {
        "awareness": "欢迎新朋友",
        "interest": "大家为什么喜欢它",
        "purchase": "提醒下单",
        "loyal": "给老顾客的推荐",
        "churning": "欢迎回来",
    },
}

HEADERS: dict[str, str] = {
    "en-US": "Push notification hooks from a shopping app. One short line each, naming the product.\n\n",
    "zh-CN": "购物应用的推送标题。每条一句话，说出商品名。\n\n",
}

EXAMPLES: dict[str, tuple[HookExample, ...]] = {
    "en-US": (
        HookExample("awareness", "Hilo Classic Linen Throw Pillow", "Start cozy with a linen pillow", ("cozy",)),
        HookExample("interest", "Vesta Trail Running Shoes", "Why runners love these shoes", ("runners",)),
        HookExample("purchase", "Tomo Ceramic Pour-Over Coffee Set", "Better coffee is one tap away", ("coffee",)),
        HookExample("loyal", "Hilo Wool Beanie", "A wool beanie picked for you", ("warm",)),
        HookExample("churning", "Tomo Oak Cutting Board", "Your kitchen misses this board", ("kitchen",)),
        HookExample("interest", "Vesta Noise Cancelling Headphones", "Headphones that hush the world", ("hush",)),
        HookExample("awareness", "Hilo Jasmine Green Tea", "Green tea for calm mornings", ("calm",)),
        HookExample("loyal", "Tomo Rose Eye Cream", "Eye cream for bright mornings", ("bright",)),
    ),
    # Shaped like catalog titles (brand, word, noun), each hook leads with the item's name or noun and
    # says one thing true of that product only, in a different turn of phrase each: a 270M model copies
    # a tail that fits any product ("给双眼一点呵护" was copied onto coffee, chargers and milk tea; a
    # season, "冬天出门", onto face masks and phone mounts).
    "zh-CN": (
        HookExample("awareness", "暖阳经典亚麻抱枕", "亚麻抱枕，沙发上的新伙伴", ("沙发", "伙伴")),
        HookExample("interest", "山行轻量越野跑鞋", "越野跑鞋，山路也跑得稳", ("山路", "跑得")),
        HookExample("purchase", "小满手冲咖啡壶", "手冲咖啡壶，在家冲出好味道", ("冲出",)),
        HookExample("loyal", "暖阳羊毛帽", "暖阳羊毛帽，摸起来软软的", ("摸起",)),
        HookExample("churning", "小满橡木砧板", "橡木砧板，切菜又快又稳", ("切菜",)),
        HookExample("interest", "山行降噪耳机", "山行降噪耳机，地铁里也安静", ("地铁", "安静")),
        HookExample("awareness", "暖阳茉莉绿茶", "茉莉绿茶，一口清香", ("清香",)),
        HookExample("loyal", "小满玫瑰眼霜", "玫瑰眼霜，熬夜后的小帮手", ("熬夜", "帮手")),
    ),
}

_LABELS = {"en-US": ("Item", "Moment"), "zh-CN": ("商品", "场景")}
_SEP = {"en-US": " | ", "zh-CN": "｜"}

# Characters a hook may use. No digits (numbers are facts, the body carries them), no braces or
# quotes (no placeholders, no JSON escapes), no '/', '@' or '.' runs that make links or e-mails.
_EN_FIRST = "[A-Za-z]"
_EN_CHAR = "[A-Za-z ,!?'&:;-]"
_ZH_FIRST = "[一-鿿A-Za-z]"
_ZH_CHAR = "[一-鿿A-Za-z ，！？、：；]"


def short_name(title: str, lang: str) -> str:
    """The item's name without its variant: the part before the first comma or bracket (en-US),
    or before the first space or bracket (zh-CN); the whole title when nothing is left."""
    cut = r"[,，(（\[【]" if lang == "en-US" else r"[\s,，(（\[【]"
    head = re.split(cut, " ".join(title.split()), maxsplit=1)[0].strip()
    return head or " ".join(title.split())


def _item_line(item: str, stage: str, lang: str) -> str:
    item_label, moment_label = _LABELS[lang]
    return f"{item_label}: {item}{_SEP[lang]}{moment_label}: {MOMENTS[lang][stage]}\n"


def completion_prompt(req: CopyRequest) -> str:
    """Header and examples (a fixed prefix per locale, so llama.cpp reuses its KV cache), then the
    item; the grammar makes the continuation the JSON line."""
    lang = req.lang
    parts = [HEADERS[lang]]
    for ex in EXAMPLES[lang]:
        parts.append(_item_line(ex.item, ex.stage, lang) + json.dumps({"hook": ex.hook}, ensure_ascii=False) + "\n")
    parts.append(_item_line(short_name(req.item_title, lang), req.stage, lang))
    return "".join(parts)


def chat_messages(req: CopyRequest, max_chars: int) -> list[dict[str, str]]:
    """The same task for an instruct model behind any OpenAI-compatible chat API (JSON mode)."""
    lang = req.lang
    language = "Simplified Chinese" if lang == "zh-CN" else "English"
    shots = "\n".join(
        _item_line(ex.item, ex.stage, lang).strip() + " -> " + json.dumps({"hook": ex.hook}, ensure_ascii=False)
        for ex in EXAMPLES[lang][:4]
    )
    system = (
        f"You write one short push-notification hook in {language} for a shopping app. "
        f"At most {max_chars} characters, it names the product (or what kind of product it is), "
        "with no numbers, prices, links or other products. "
        'Reply with only a JSON object: {"hook": "..."}.\nExamples:\n' + shots
    )
    user = _item_line(short_name(req.item_title, lang), req.stage, lang).strip()
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def hook_grammar(max_chars: int, lang: str) -> str:
    """GBNF allowing only ``{"hook": "<1..max_chars characters>"}``.

    The string is a chain of nested optional characters (``c1 ::= char c2?``), which bounds its
    length without ``{m,n}`` repetition (absent from older grammar parsers) and stays unambiguous,
    so the sampler tracks one parse per step.
    """
    first, char = (_ZH_FIRST, _ZH_CHAR) if lang == "zh-CN" else (_EN_FIRST, _EN_CHAR)
    n = max(1, max_chars)
    lines = ['root ::= "{\\"hook\\": \\"" s1 "\\"}"', f"first ::= {first}", f"char ::= {char}"]
    lines.append("s1 ::= first" + (" s2?" if n > 1 else ""))
    for k in range(2, n + 1):
        lines.append(f"s{k} ::= char" + (f" s{k + 1}?" if k < n else ""))
    return "\n".join(lines) + "\n"


def prompt_texts(lang: str) -> list[str]:
    """Every instruction and example line of the prompt: a hook that repeats one is an echo."""
    texts = [HEADERS[lang].strip(), *MOMENTS[lang].values()]
    texts += [ex.hook for ex in EXAMPLES[lang]]
    return texts


def example_items() -> list[str]:
    """The invented example products (never a valid item to name)."""
    return [ex.item for exs in EXAMPLES.values() for ex in exs]


def example_words(lang: str) -> list[str]:
    """Words of the examples that describe only the example's product: its item and ``about``."""
    return [w for ex in EXAMPLES[lang] for w in (ex.item, *ex.about)]

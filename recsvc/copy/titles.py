"""Known catalog titles and the word splitting the guardrails share.

:class:`CatalogTitles` lets a guardrail see a message naming a *different* catalog item than the
one it is about, in any spelling a catalog uses ("Usual Suspects, The (1995)").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_RUN = re.compile(r"[^\W_]+")
_SPACES = re.compile(r"\s+")


def norm_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` (letters and digits, inner apostrophes kept)."""
    return _WORD.findall(text.lower())


def _title_variants(title: str) -> set[str]:
    """Normalised spellings of a catalog title: as is, without '(1995)'-style parts, 'Name, The' reordered."""
    out: set[str] = set()
    base = title.strip()
    if not base:
        return out
    cands = {base, re.sub(r"\s*[(\[（【][^)\]）】]*[)\]）】]\s*", " ", base).strip()}
    for c in list(cands):
        m = re.match(r"^(.*),\s*(the|a|an|le|la|les|el|il|der|die|das)$", c, re.IGNORECASE)
        if m:
            cands.add(f"{m.group(2)} {m.group(1)}")
            cands.add(m.group(1))
    for c in cands:
        words = norm_words(c)
        if words:
            out.add(" ".join(words))
    return out


class CatalogTitles:
    """Index of known item titles, to catch a message naming a *different* catalog item.

    Lookup scans word spans (and CJK character spans) of the text against a set, so the cost grows
    with the text, not with the catalog. Very short one-word titles are skipped: they collide with
    ordinary words ("Heat", "Big").
    """

    def __init__(self, titles: Iterable[str]) -> None:
        self._titles: set[str] = set()
        # Titles with CJK characters, without spaces: Chinese text runs a title's parts together
        # ("天顶经典海苔 500克" reads "天顶经典海苔500克"), and has no spaces to split words at.
        self._compact: set[str] = set()
        self._max_words = 1
        self._max_cjk = 2
        for t in titles:
            for v in _title_variants(str(t)):
                words = v.split(" ")
                cjk = len(CJK.findall(v))
                if len(words) < 2 and len(v) < 8 and cjk < 3:
                    continue
                self._titles.add(v)
                self._max_words = max(self._max_words, len(words))
                if cjk:
                    self._compact.add(_compact(v))
                    self._max_cjk = max(self._max_cjk, len(_compact(v)))
        self._max_words = min(self._max_words, 12)
        self._max_cjk = min(self._max_cjk, 30)

    def __len__(self) -> int:
        return len(self._titles)

    def find_other(self, text: str, given_title: str | Iterable[str]) -> str | None:
        """The first known title in ``text`` that is not (part of) a given title, else None."""
        if not self._titles:
            return None
        givens = [given_title] if isinstance(given_title, str) else list(given_title)
        given = [" ".join(norm_words(g)) for g in givens]
        given_compact = [_compact(g) for g in given]
        words = norm_words(text)
        for i in range(len(words)):
            for j in range(i + 1, min(len(words), i + self._max_words) + 1):
                cand = " ".join(words[i:j])
                if cand in self._titles and not any(cand in g for g in given):
                    return cand
        for run in _RUN.findall(_SPACES.sub("", text.lower())):
            if not CJK.search(run):
                continue
            for i in range(len(run)):
                for j in range(i + 2, min(len(run), i + self._max_cjk) + 1):
                    cand = run[i:j]
                    if cand in self._compact and not any(cand in g for g in given_compact):
                        return cand
        return None


def _compact(normalised: str) -> str:
    """A normalised title or text without spaces and apostrophes, as the CJK scan compares them."""
    return "".join(_RUN.findall(normalised))

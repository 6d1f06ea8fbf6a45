"""Text normalisation shared by the table, the matchers and the classifier.

GPs type diagnoses with full-width and half-width characters mixed, Roman or Chinese numerals
for types and degrees (Ⅱ型, 二型, 2型), stray punctuation and spaces. Every term of the table
and every query goes through :func:`normalize`, so that matching compares like with like.
Pinyin forms (initials ``gxy`` and the full syllables ``gaoxueya``) are computed here too,
with ``pypinyin``'s phrase dictionary (which reads 血压 as *xueya*, not *xieya*).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

_DROP = re.compile(
    r"[\s()\[\]{}<>,.;:!?'\"`~@#$%^&*_+=|\\/·、，。；：！？“”‘’《》【】〔〕（）\-—–…]+"
)
_NUMERALS = (
    ("iii型", "3型"),
    ("ii型", "2型"),
    ("i型", "1型"),
    ("一型", "1型"),
    ("二型", "2型"),
    ("iii度", "3度"),
    ("ii度", "2度"),
    ("i度", "1度"),
    ("一度", "1度"),
    ("二度", "2度"),
    ("三度", "3度"),
    ("iii级", "3级"),
    ("ii级", "2级"),
    ("i级", "1级"),
    ("一级", "1级"),
    ("二级", "2级"),
    ("三级", "3级"),
    ("iv期", "4期"),
    ("iii期", "3期"),
    ("ii期", "2期"),
    ("v期", "5期"),
    ("i期", "1期"),
)
_HAN = re.compile(r"[\u3400-\u9fff]")


def normalize(text: str) -> str:
    """NFKC, lower case, numerals unified, punctuation and spaces removed."""
    folded = unicodedata.normalize("NFKC", text).lower()
    folded = _DROP.sub("", folded)
    for roman, arabic in _NUMERALS:
        if roman in folded:
            folded = folded.replace(roman, arabic)
    return folded


def has_han(text: str) -> bool:
    """Whether ``text`` contains a Chinese character."""
    return bool(_HAN.search(text))


def is_pinyin_query(text: str) -> bool:
    """A normalised query of 2 to 12 ASCII letters is read as pinyin initials."""
    return 2 <= len(text) <= 12 and text.isascii() and text.isalpha()


@lru_cache(maxsize=65536)
def initials(text: str) -> str:
    """Pinyin initials of a normalised term (``高血压`` → ``gxy``); other characters kept."""
    return "".join(
        s[0] if s else "" for s in lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default")
    )


@lru_cache(maxsize=65536)
def syllables(text: str) -> str:
    """Toneless pinyin of a normalised term, joined (``糖尿病`` → ``tangniaobing``).

    Homophone typos (糖尿并, 高学压) read the same, so fuzzy matching on this form finds them."""
    return "".join(lazy_pinyin(text, style=Style.NORMAL, errors="default"))

"""Text utilities shared by every stage: Arabic normalization, language
detection, sentence splitting and removal of chat-template control strings.

Normalization here is for *matching* (search, citation checks, metrics); the
text shown to users and given to the model is never normalized.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

PUNCTUATION = "\"'«»“”()[]{}.,،؛;:!?؟"  # what a word's edges lose when it is read (quotes, brackets, stops, Arabic marks)

_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_TATWEEL = "\u0640"
MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # diacritics and tatweel: what `strip_marks` removes
TANWEEN = re.compile("[\u064b-\u064d]")  # the indefinite endings (ـً ـٌ ـٍ): a word carrying one is Arabic vocabulary, not a name
PERSIAN = str.maketrans({"ی": "ي", "ک": "ك", "گ": "ك"})  # Persian yeh, keheh and gaf, common in typed Arabic (یوم is يوم)
CLITICS = ("و", "ف", "ب", "ل", "ك")  # one-letter proclitics: and, so, with, for, like (none opens the article's ال)
PROCLITICS = ("وال", "بال", "فال", "لل", "ال", "و", "ف", "ب", "ل")  # what may open a word before its stem: a conjunction, preposition and/or the article
_BIDI_MARKS = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\ufeff\u200b-\u200d]")
_ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي", "گ": "ك", "ی": "ي", "ک": "ك"})
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3]")
_LATIN_LETTER = re.compile("[A-Za-z]")
_WORD = re.compile(r"\w+")

# Control strings of common chat templates (ChatML, Llama, Gemma, Mistral).
# A passage or question carrying one must not be able to open a new turn.
_SPECIAL_TOKENS = re.compile(
    r"<\|[^<>|\n]{1,40}\|>|</?s>|\[/?INST\]|<</?SYS>>|<(?:start|end)_of_turn>|<(?:bos|eos|pad)>",
    re.IGNORECASE,
)


def normalize(text: str) -> str:
    """Fold text for matching: NFKC, no diacritics/tatweel/bidi marks, one alef, Western digits, casefold."""
    text = unicodedata.normalize("NFKC", text)
    text = _BIDI_MARKS.sub("", text)
    text = _DIACRITICS.sub("", text).replace(_TATWEEL, "")
    text = text.translate(_ALEF).translate(_DIGITS)
    return " ".join(text.casefold().split())


def strip_marks(text: str) -> str:
    """Text without diacritics and tatweel, letters otherwise as written (`normalize` also folds letters)."""
    return MARKS.sub("", text)


def proclitic_forms(word: str, shortest: int = 2) -> set[str]:
    """A word and what it is without a leading conjunction, preposition or article (والمحادثات: محادثات), each at least `shortest` letters."""
    return {word} | {word[len(p) :] for p in PROCLITICS if word.startswith(p) and len(word) - len(p) >= shortest}


@functools.lru_cache(maxsize=1)
def month_names() -> dict[str, int]:
    """Month names as news writes them, each with its number: those of every Arabic locale in Unicode
    CLDR (Babel: Egyptian يناير, Levantine كانون الثاني, Maghrebi جانفي), English ones in full and short,
    and the Egyptian spellings CLDR lacks (يونيه, يوليه). Keys as written; `normalize` them to match folded text."""
    from babel import Locale
    from babel.localedata import locale_identifiers

    names: dict[str, int] = {}
    for identifier in ["en", *(i for i in locale_identifiers() if i == "ar" or i.startswith("ar_"))]:
        months = Locale.parse(identifier).months
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated") if identifier == "en" else ("wide",):
                for number, name in months[context][width].items():
                    names.setdefault(" ".join(name.replace("\xa0", " ").split()), number)
    names.update({"يونيه": 6, "يوليه": 7, "Sept": 9})
    return names


def words(text: str) -> list[str]:
    """Normalized word tokens of text."""
    return _WORD.findall(normalize(text))


def detect_language(text: str) -> str:
    """'ar' when more words are Arabic than Latin (a name in the other script does not decide), else 'en'."""
    tokens = text.split()
    arabic = sum(1 for t in tokens if _ARABIC_LETTER.search(t))
    latin = sum(1 for t in tokens if _LATIN_LETTER.search(t) and not _ARABIC_LETTER.search(t))
    return "ar" if arabic > latin or (arabic == latin and arabic > 0 and len(_ARABIC_LETTER.findall(text)) > len(_LATIN_LETTER.findall(text))) else "en"


def strip_special_tokens(text: str) -> str:
    """Remove chat-template control strings such as <|im_start|> from untrusted text."""
    previous = None
    while previous != text:  # removal can join the halves of a split token
        previous, text = text, _SPECIAL_TOKENS.sub("", text)
    return text


@dataclass(frozen=True)
class Span:
    """A sentence and its character offsets in the text it came from."""

    start: int
    end: int
    text: str


# A sentence ends at . ! ? ؟ ؛ … followed by space, or at a line break. A
# full stop between two digits or inside an abbreviation has no space after
# it, so it does not split.
_ABBREVIATION = re.compile(r"(?:^|[\s.])[A-Z]\.$")
_SENTENCE_END = re.compile(r"(?<=[.!?؟؛…])[\"'”»)\]]*\s+|\n+")


def split_sentences(text: str) -> list[Span]:
    """Split text into sentences with offsets, for Arabic and Latin punctuation."""
    spans: list[Span] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if _ABBREVIATION.search(text, 0, match.start()):
            continue  # "U.S. paid" is one sentence
        _add_span(text, start, match.start() + len(match.group(0).rstrip()), spans)
        start = match.end()
    _add_span(text, start, len(text), spans)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[Span]) -> None:
    raw = text[start:end]
    lead = len(raw) - len(raw.lstrip())
    body = raw.strip()
    if body:
        spans.append(Span(start + lead, start + lead + len(body), body))


# Ordinals in words, folded and without the article (rag.rendering puts them into English, rag.kinds reads centuries as dates);
# TENS also names the decades (التسعينيات) that rag.kinds reads as dates.
_ORDINAL_UNITS = {
    "اول": "first", "اولي": "first", "ثاني": "second", "ثانيه": "second", "ثالث": "third", "ثالثه": "third", "رابع": "fourth",
    "رابعه": "fourth", "خامس": "fifth", "خامسه": "fifth", "سادس": "sixth", "سادسه": "sixth", "سابع": "seventh", "سابعه": "seventh",
    "ثامن": "eighth", "ثامنه": "eighth", "تاسع": "ninth", "تاسعه": "ninth", "عاشر": "tenth", "عاشره": "tenth", "حادي": "first", "حاديه": "first",
}
_TEENS = {"first": "eleventh", "second": "twelfth", "third": "thirteenth", "fourth": "fourteenth", "fifth": "fifteenth", "sixth": "sixteenth",
          "seventh": "seventeenth", "eighth": "eighteenth", "ninth": "nineteenth"}
TENS = {"عشرين": ("twenty", "twentieth"), "ثلاثين": ("thirty", "thirtieth"), "اربعين": ("forty", "fortieth"), "خمسين": ("fifty", "fiftieth"),
         "ستين": ("sixty", "sixtieth"), "سبعين": ("seventy", "seventieth"), "ثمانين": ("eighty", "eightieth"), "تسعين": ("ninety", "ninetieth")}
CENTURY = {"قرن", "القرن"}  # folded


def ordinal(tokens: list[str], i: int) -> tuple[int, str] | None:
    """(words read, English) of an ordinal written in words from tokens[i]: الثاني (second), التاسع عشر
    (nineteenth), الحادي والعشرين (twenty-first), العشرين (twentieth); None when none starts there.
    Only a word with the article is read: a bare عشرين is a number, not an ordinal."""
    folded = [normalize(t.strip(PUNCTUATION)) for t in tokens[i : i + 2]]
    if not folded or not folded[0].startswith("ال"):  # past the last word, or no article
        return None
    word = folded[0][2:]
    if word in TENS:
        return 1, TENS[word][1]
    unit = _ORDINAL_UNITS.get(word)
    if unit is None:
        return None
    after = folded[1] if len(folded) > 1 else ""
    if after in ("عشر", "عشره"):
        return 2, _TEENS[unit]
    if after.startswith("وال") and after[3:] in TENS:
        return 2, f"{TENS[after[3:]][0]}-{unit}"
    return (1, unit) if word not in ("حادي", "حاديه") else None

"""The phrases of a sentence that can answer a question of a given kind.

A question asks for a kind of thing (rag.quoting.question_type): a date for
"when", a number for "how many", a name for "who", a place for "where". The
phrases of the quote that are of that kind are found here by table and
pattern, not by the model: dates by month, weekday and year names (Unicode
CLDR through Babel) and digits; numbers by digits and number words; names by
the name test of rag.spelling (a transcribed name, not Arabic vocabulary);
places by CLDR's place names and that same test. The model then only chooses
among them (a grammar allows nothing else), or is not asked at all when there
is one. A kind with no phrase of it in the sentence leaves the choice open:
any run of the sentence's words.

Phrases the question itself holds are no answer (the "Sullivan" of "who did
Sullivan talk to?"), so they are left out.
"""

from __future__ import annotations

import functools
import re

from .settings import KINDS
from .text import CENTURY, PUNCTUATION, TENS, month_names, normalize, ordinal, proclitic_forms, words

# Number words and words of duration and quantity (as their folded stems start).
_NUMBER_STEMS = tuple(normalize(w) for w in (
    "واحد", "اثن", "ثلاث", "أربع", "خمس", "ست", "سبع", "ثمان", "تسع", "عشر", "مئ", "مائ", "ألف", "آلاف", "مليون", "ملايين", "مليار", "نصف", "ربع",
    "عشرات", "مئات", "بضع", "عدة"))
_DURATIONS = {normalize(w) for w in (
    "ساعة", "ساعتين", "ساعات", "يوم", "يومين", "أيام", "أسبوع", "أسبوعين", "أسابيع", "شهر", "شهرين", "أشهر", "شهور", "عام", "عامين", "أعوام", "سنة",
    "سنتين", "سنوات", "دقيقة", "دقائق", "ثانية", "ثوان", "قرن", "قرون", "عقد", "عقود")}
_WEEKDAYS = {normalize(w) for w in ("الأحد", "الاثنين", "الإثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت")}
_YEAR_WORDS = {normalize(w) for w in ("عام", "العام", "سنة", "السنة")}
_DIGITS = re.compile(r"^[\d٠-٩۰-۹]+(?:[.,٫/][\d٠-٩۰-۹]+)*[%٪]?$")
_SMALL = 31  # a number up to this may be a day of the month



@functools.lru_cache(maxsize=1)
def _months() -> frozenset[str]:
    return frozenset(normalize(m) for m in month_names() if len(m) > 2)


def _bare(token: str) -> str:
    return normalize(token.strip(PUNCTUATION))


def _closes(token: str) -> bool:
    """The token ends with punctuation: what follows it is not part of its phrase."""
    return token.rstrip(PUNCTUATION) != token


def _forms(token: str) -> set[str]:
    bare = _bare(token)
    return {f for part in bare.split("/") for f in proclitic_forms(part)} if bare else set()


def _is_number(token: str) -> bool:
    bare = _bare(token)
    return bool(_DIGITS.match(bare)) or any(f.startswith(_NUMBER_STEMS) for f in _forms(token) if len(f) >= 3) or bool(_forms(token) & _DURATIONS)


def _is_date(token: str, following: str = "") -> bool:
    bare = _bare(token)
    forms = _forms(token)
    if forms & _months() or forms & _WEEKDAYS:
        return True
    if _DIGITS.match(bare):
        return True  # a day, a year, or a date written in digits (12/5/1705)
    return bare in _YEAR_WORDS and bool(_DIGITS.match(_bare(following)))


def _runs(tokens: list[str], test: list[bool]) -> list[tuple[int, int]]:
    """Maximal runs [start, end) of tokens passing their test."""
    out = []
    start = None
    for i, ok in enumerate([*test, False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            out.append((start, i))
            start = None
    return out


_ERAS = {"الميلادي", "الميلادية", "الهجري", "الهجرية", "للميلاد", "للهجرة", "م", "هـ"}


def _centuries(tokens: list[str], test: list[bool]) -> None:
    """Mark a century as a date: القرن التاسع عشر, القرن الخامس والسادس الهجري, القرن السابع قبل الميلاد."""
    for i, token in enumerate(tokens):
        if not any(form in CENTURY for form in proclitic_forms(normalize(token))) or _closes(token):
            continue
        k = i + 1
        while (found := ordinal(tokens, k)) is not None or (k < len(tokens) and tokens[k][:1] == "و" and ordinal([tokens[k][1:]], 0)):
            k += found[0] if found else 1
            if _closes(tokens[k - 1]):
                break
        if k == i + 1:
            continue
        if k < len(tokens) and not _closes(tokens[k - 1]):
            if tokens[k].strip(PUNCTUATION) in _ERAS:
                k += 1
            elif tokens[k] == "قبل" and k + 1 < len(tokens) and tokens[k + 1].strip(PUNCTUATION) == "الميلاد":
                k += 2
        for j in range(i, k):
            test[j] = True


_DECADE = re.compile(rf"^(?:ال)?(?:{'|'.join(TENS)})(?:ي)?ات$")  # folded: التسعينيات, الثمانينات
_PART_OF = {normalize(w) for w in ("أوائل", "أواخر", "أواسط", "منتصف", "مطلع", "بداية", "نهاية")}  # early, late, mid…


def _decades(tokens: list[str], test: list[bool]) -> None:
    """Mark a decade as a date, with the part of it named before it: التسعينيات, في أوائل الثمانينيات."""
    for i, token in enumerate(tokens):
        if any(_DECADE.match(form) for form in proclitic_forms(_bare(token))):
            test[i] = True
            if i and not _closes(tokens[i - 1]) and proclitic_forms(normalize(tokens[i - 1])) & _PART_OF:
                test[i - 1] = True


def _dates(tokens: list[str]) -> list[tuple[int, int]]:
    test = [_is_date(t, tokens[i + 1] if i + 1 < len(tokens) else "") for i, t in enumerate(tokens)]
    for i in range(len(tokens) - 1):  # two-word month names: كانون الثاني, تشرين الأول
        if _bare(tokens[i]) + " " + _bare(tokens[i + 1]).split("/")[0] in _months():
            test[i] = test[i + 1] = True
    _centuries(tokens, test)
    _decades(tokens, test)
    runs = []
    for start, end in _runs(tokens, test):
        texts = [_bare(t) for t in tokens[start:end]]
        # a lone small number is a count, not a date ("3 مرات"); a run with a month, weekday or year is a date
        if len(texts) == 1 and _DIGITS.match(texts[0]) and texts[0].isdigit() and int(texts[0]) <= _SMALL:
            continue
        runs.append((start, end))
    return runs


def _counts(tokens: list[str]) -> list[tuple[int, int]]:
    """Runs of numbers and number words ("308", "أربع", "ثلاث ساعات"); the counted noun after them is
    the question's, not the answer's ("308 نقطة" for "how many points": 308)."""
    return _runs(tokens, [_is_number(t) for t in tokens])


_SON_OF = {"بن", "بنت"}  # not ابن, the noun "son" (ابن عمه, his cousin), which follows names as often


def _lineage(tokens: list[str], test: list[bool]) -> None:
    """Mark an Arabic name given by lineage as a name, whatever its words: عمر بن عبد العزيز, الفارعة بنت
    همام بن عروة. Such names are common Arabic words (عمر, عبد, العزيز) that the name test, made for
    transcribed foreign names, turns away; بن and بنت ("son of", "daughter of") between two words say
    what they are. A word after عبد ("servant of", عبد العزيز) or أبي ("father of", أبي طالب) belongs to the name too."""
    for k in range(1, len(tokens) - 1):
        if tokens[k] in _SON_OF and not _closes(tokens[k - 1]):
            test[k - 1] = test[k] = test[k + 1] = True
            if tokens[k + 1] in ("عبد", "عبيد", "أبي", "ابي", "أبو") and k + 2 < len(tokens):  # عبد العزيز, أبي طالب
                test[k + 2] = True
            if tokens[k - 1] not in ("عبد", "عبيد") and k >= 2 and tokens[k - 2] in ("عبد", "عبيد"):
                test[k - 2] = True  # عبد الله بن عمر


def _names(tokens: list[str], places: bool) -> list[tuple[int, int]]:
    from .names import _spelled, cldr_name
    from .spelling import is_name_like

    test = []
    i = 0
    while i < len(tokens):
        found = cldr_name([t.strip(PUNCTUATION) for t in tokens[i : i + 3]]) if places else None
        if found is not None:
            test.extend([True] * found[0])
            i += found[0]
            continue
        test.append(is_name_like(tokens[i]))
        i += 1
    if not places:  # a place is not named by lineage; the person of a where-question's sentence is no answer
        _lineage(tokens, test)
    # a name with a preposition attached (لبوتين, "to Putin") stands alone: it ends the run before it
    attached = [ok and (spelled := _spelled(t)) is not None and spelled[0] != t for t, ok in zip(tokens, test, strict=False)]
    runs = []
    for start, end in _runs(tokens, test[: len(tokens)]):
        # a name ends at punctuation ("يوري أوشاكوف، كما") and at a word carrying a preposition
        piece = start
        for k in range(start, end):
            if k > piece and attached[k]:
                runs.append((piece, k))
                piece = k
            if _closes(tokens[k]) or (attached[k] and k + 1 < end):
                runs.append((piece, k + 1))
                piece = k + 1
        if piece < end:
            runs.append((piece, end))
    return runs


# What part of a date a "when" question asks for.
_UNITS = (("century", re.compile(r"(?:قرن|\bcentury\b)", re.IGNORECASE)),
          ("year", re.compile(r"(?:عام|سنة|العام|السنة|\byear\b)", re.IGNORECASE)), ("month", re.compile(r"(?:شهر|\bmonth\b)", re.IGNORECASE)),
          ("day", re.compile(r"(?:يوم|\bday\b|weekday)", re.IGNORECASE)))
_YEAR = re.compile(r"^(?:1[0-9]{3}|20[0-9]{2})$")


def _unit(question: str) -> str:
    """year, month or day when a "when" question names the part of a date it asks for, else ''."""
    return next((name for name, pattern in _UNITS if pattern.search(question)), "")


def _has_unit(tokens: list[str], unit: str) -> bool:
    bare = [_bare(t) for t in tokens]
    forms = set().union(*(_forms(t) for t in tokens)) if tokens else set()
    if unit == "year":
        return any(_YEAR.match(b) for part in bare for b in part.split("/"))
    if unit == "century":
        return bool(forms & CENTURY)
    if unit == "month":
        return bool(forms & _months()) or any(_bare(a) + " " + _bare(b) in _months() for a, b in zip(tokens, tokens[1:], strict=False))
    return bool(forms & _WEEKDAYS) or any(b.isdigit() and int(b) <= _SMALL for b in bare)


def phrases(kind: str, sentence: str, question: str) -> list[str]:
    """The phrases of the sentence of the kind the question asks for, in sentence order, without
    those the question holds; [] for another kind, or when the sentence has none.

    `question` is the text whose words count as held: the question, the one before it, and, for an
    English question, the Arabic of its names (rag.rendering.arabic_of). A "when" question naming
    the part of a date it wants ("in what year") gets the dates holding that part; a "where"
    question gets the sentence's place names (CLDR's, then any other name)."""
    if kind not in KINDS:
        return []
    tokens = sentence.split()
    if kind == "when":
        runs = _dates(tokens)
        if unit := _unit(question):
            runs = [(a, b) for a, b in runs if _has_unit(tokens[a:b], unit)] or runs
        else:  # a century answers a question asking for one; else a date, where the sentence holds one
            runs = [(a, b) for a, b in runs if not _has_unit(tokens[a:b], "century")] or runs
    elif kind == "count":
        runs = _counts(tokens)
    elif kind == "duration":  # how long: the counts that are lengths of time ("لعدة ساعات", "شهرين")
        runs = [(a, b) for a, b in _counts(tokens) if any(_forms(t) & _DURATIONS for t in tokens[a:b])]
    elif kind == "where":  # CLDR's places and the other names: its cities are its time zones' (Istanbul, not Ankara)
        runs = _names(tokens, places=True)
    else:
        runs = _names(tokens, places=False)
    asked = {f for w in words(question) for f in proclitic_forms(w)}
    out: list[str] = []
    for start, end in runs:
        text = " ".join(tokens[start:end]).strip(PUNCTUATION).strip()
        own = [w for w in words(text) if len(w) > 1]
        held = [bool(proclitic_forms(w) & asked) for w in own]
        # a name the question holds in part is the person it asks about ("باتروشيف" of "who talked to Patrushev?")
        if text and own and not (all(held) if kind in ("when", "count", "duration") else any(held)) and text not in out:
            out.append(text)
    return out

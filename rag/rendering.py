"""An Arabic phrase put into English for an English question: what can be looked
up is looked up, and the generator writes only the rest.

The phrase is one the generator copied from the quote (rag.spans). Its words
are read in order: numbers (Western or Eastern Arabic digits) stay numbers,
month and weekday names come from Unicode CLDR through Babel, names come from
the glossary of the quote's names (rag.names, the same spellings an English
prompt shows), and a few joining words (و "and", في "in") are translated by
table. A phrase read whole this way needs no model. Any other phrase is put
into English by the generator, shown the sentence it stands in and the
names' spellings: a short phrase is what a 1.5B model translates least badly,
and the names it spells worst are given to it.
"""

from __future__ import annotations

import functools
import re

from .generation import Message
from .text import CENTURY, PUNCTUATION, month_names, normalize, ordinal, proclitic_forms, strip_special_tokens

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫", "01234567890123456789.")
_NUMBER = re.compile(r"^[\d٠-٩۰-۹]+(?:[.,٫][\d٠-٩۰-۹]+)*%?$")
# Joining words a phrase of names and dates may hold, and years' labels that English drops ("عام 2014": 2014).
_JOINING = {"و": "and", "في": "in", "من": "of", "عام": "", "سنة": "", "العام": "", "يوم": "", "شهر": "", "،": ",", ",": ","}

# Durations and number words, by table: the model turned شهرين ("two months") into "two years".
_COUNTED = {
    "ساعه": "hour", "ساعتين": "two hours", "ساعات": "hours", "يوم": "day", "يومين": "two days", "ايام": "days", "اسبوع": "week",
    "اسبوعين": "two weeks", "اسابيع": "weeks", "شهرين": "two months", "اشهر": "months", "شهور": "months", "عامين": "two years",
    "اعوام": "years", "سنتين": "two years", "سنوات": "years", "دقيقه": "minute", "دقائق": "minutes", "ثانيه": "second", "ثوان": "seconds",
    "قرن": "century", "قرون": "centuries", "عقد": "decade", "عقود": "decades",
    "واحد": "one", "واحده": "one", "اثنان": "two", "اثنين": "two", "ثلاث": "three", "ثلاثه": "three", "اربع": "four", "اربعه": "four",
    "خمس": "five", "خمسه": "five", "ست": "six", "سته": "six", "سبع": "seven", "سبعه": "seven", "ثماني": "eight", "ثمانيه": "eight",
    "تسع": "nine", "تسعه": "nine", "عشر": "ten", "عشره": "ten", "مئه": "hundred", "مائه": "hundred", "الف": "thousand", "الاف": "thousand",
    "مليون": "million", "ملايين": "million", "مليار": "billion", "عده": "several", "بضع": "a few", "بضعه": "a few", "نصف": "half", "ربع": "a quarter",
    "الاربعه": "four", "الثلاثه": "three", "الخمسه": "five", "السته": "six", "العشره": "ten"
}

_REGNAL = {o: r for o, r in zip(("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"),
                                  ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"), strict=True)}


RENDER_SYSTEM = (
    "Put the Arabic phrase into English. Write only the English phrase, as short as the Arabic. "
    "Names are given with their English spelling: use it."
)


@functools.lru_cache(maxsize=1)
def _weekdays() -> dict[str, str]:
    """Arabic weekday names (folded) → English, from CLDR."""
    from babel import Locale

    ar, en = Locale("ar").days["format"]["wide"], Locale("en").days["format"]["wide"]
    return {normalize(ar[i]): en[i] for i in ar}


@functools.lru_cache(maxsize=1)
def _months() -> dict[str, str]:
    """Month names as news writes them (folded) → English, from CLDR."""
    from babel import Locale

    english = Locale("en").months["format"]["wide"]
    return {normalize(name): english[number] for name, number in month_names().items()}


def _word(word: str) -> str | None:
    """The English of one word by table, or None."""
    bare = word.strip(PUNCTUATION)
    if not bare:
        return ""
    if _NUMBER.match(bare):
        return bare.translate(_DIGITS)
    folded = normalize(bare)
    if folded in _JOINING:
        return _JOINING[folded]
    for form in sorted(proclitic_forms(folded), key=len, reverse=True):
        if form in _months():
            return _months()[form]
        if form in _weekdays():
            return _weekdays()[form]
        if form in _COUNTED:
            return _COUNTED[form]
    return None


def arabic_of(question: str, glossary: dict[str, str]) -> str:
    """The Arabic of what an English question names, as the quote writes it: the glossary's names
    whose English spelling the question holds, and the Arabic names of the months it names.
    (A phrase the question holds is no answer; the question and the quote share no script.)"""
    tokens = re.findall(r"[A-Za-z][\w'-]*", question)
    # "the Austin-Shoigu call", "Sullivan's talks": each name of a compound or a possessive is named too
    asked = {w.casefold() for t in tokens for w in (t, *re.split(r"[-']", t)) if w}
    out = [arabic for arabic, english in glossary.items() if any(w.casefold() in asked for w in english.split())]
    english_months = {name.casefold(): number for name, number in month_names().items() if name.isascii()}
    wanted = {english_months[w] for w in asked if w in english_months}
    out += [name for name, number in month_names().items() if number in wanted and not name.isascii()]
    return " ".join(out)


def by_lookup(phrase: str, glossary: dict[str, str]) -> str | None:
    """The English of a phrase read whole from tables and the glossary; None when a word is left.

    Glossary runs are matched longest first on the phrase's words; a word
    opening with a clitic (لبوتين) matches its glossary entry without it."""
    tokens = phrase.split()
    runs = sorted(((k.split(), v) for k, v in glossary.items() if k.strip()), key=lambda kv: -len(kv[0]))
    out: list[str] = []
    i = 0
    named_last = False  # the last words read were a name of the glossary
    while i < len(tokens):
        for arabic, english in runs:
            n = len(arabic)
            window = [t.strip(PUNCTUATION) for t in tokens[i : i + n]]
            if len(window) == n and all(w == a or a in proclitic_forms(w) for w, a in zip(window, arabic, strict=True)):
                if window[0] != arabic[0] and window[0].startswith("و") and out:  # "وباتروشيف": and Patrushev
                    out.append("and")
                out.append(english)
                i += n
                named_last = True
                break
        else:
            after_name, named_last = named_last, False
            if normalize(tokens[i].strip(PUNCTUATION)) in CENTURY and (found := ordinal(tokens, i + 1)):  # القرن التاسع عشر: nineteenth century
                out.append(f"the {found[1]} century")
                i += 1 + found[0]
                continue
            if found := ordinal(tokens, i):
                # after a name it is a regnal number: إليزابيث الثانية, Elizabeth II
                out.append(_REGNAL.get(found[1], found[1]) if after_name else found[1])
                i += found[0]
                continue
            word = _word(tokens[i])
            if word is None:
                return None
            if word and not (out and out[-1] == word):  # "فبراير (شباط)": one month, named twice
                out.append(word)
            i += 1
    text = " ".join(out).replace(" ,", ",").strip(" ,")
    return text or None


DIRECT_SYSTEM = (
    "Answer the question in English with the shortest phrase the sentence gives. "
    "Names in the sentence are followed by their English spelling in parentheses: use it. Write only the answer."
)


def direct_messages(question: str, sentence: str, glossary: dict[str, str]) -> list[Message]:
    """The prompt for an English answer written from the quote itself, its names annotated with their spellings."""
    from .prompting import annotate

    text = annotate(strip_special_tokens(sentence), {a: e for a, e in glossary.items() if a in sentence})
    return [{"role": "system", "content": DIRECT_SYSTEM}, {"role": "user", "content": f"Sentence: {text}\nQuestion: {strip_special_tokens(question)}"}]


def messages(phrase: str, sentence: str, glossary: dict[str, str]) -> list[Message]:
    """The prompt putting a phrase into English: the sentence it stands in, the names' spellings, the phrase."""
    names = [f"{a} = {e}" for a, e in glossary.items() if a in sentence]
    lines = [f"Sentence: {strip_special_tokens(sentence)}"]
    if names:
        lines.append("Names: " + "; ".join(names))
    lines.append(f"Arabic phrase: {strip_special_tokens(phrase)}")
    return [{"role": "system", "content": RENDER_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


# Labels a model puts before its rendering, sometimes several deep ("The English phrase is: \"The Arabic phrase is: …")
_LABEL = re.compile(r"^[\s\"'“”«»]*(?:the )?(?:(?:english|arabic)(?: phrase)?|answer|translation)(?: is)?\s*:\s*", re.IGNORECASE)


def tidy(text: str) -> str:
    """A rendered phrase as an answer: one line, no quotes or label around it."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    while (bare := _LABEL.sub("", line, count=1)) != line:
        line = bare
    return line.strip().strip("\"'“”«»").strip()

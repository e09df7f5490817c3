"""English spellings of names written in Arabic script.

Arabic news writes foreign names phonetically (أوشاكوف, باتروشيف), and the
small generator spells them back badly ("Yorushakov"). Spelling rules alone
cannot recover the usual English form either: Arabic has no p or v and omits
short vowels, so باتروشيف could be Batrushev or Patrushev.

So the English form is *looked up*, not invented: every word of a large
English frequency list (wordfreq, built from Wikipedia, news, subtitles and
the web) gets a phonetic key; an Arabic word gets the same kind of key, and
the English words sharing it are ranked by how well their vowels align and
how common they are. Patrushev is in English news; Batrushev is not.
The English key follows how Arabic writes a name: a vowel pair may be one
written vowel (Nikolai نيكولاي) or two (Ismail إسماعيل), a final e is silent
(Meloni ميلوني, not Milone), ث is th (Keith كيث, not Kit) and ح an h that is
always heard (Hassan حسن, not Son).

Given names and surnames of well-known people are looked up first: Arabic
Wikipedia names about 3,100 people in both scripts (جيمس بيكر, James Baker),
so جيمس is James, not "Gems", and بيل Bill, not "Bell" (`_people`).

Place and month names are not spelled by sound but looked up: Unicode CLDR
(through Babel) gives the Arabic and English names of every country and
region, of ~400 cities and of the months in every Arabic locale, so ليتوانيا
is Lithuania, القاهرة Cairo (not al-Qahira) and نيسان April (not Nissan).

When the user's question names someone ("Who did William Burns meet?"), an
Arabic word that sounds like that name takes the user's spelling: the answer
then speaks of the same Burns the question did, even where the word list
would have read the Arabic as another word (بيرنز as "Byrnes").

Names of papers and channels are often English words transcribed (وول ستريت
جورنال), which the sound lookup turns away as English vocabulary: with the
embedding model at hand, runs of such words are read as phrases (`phrases`).

What this does not do: spell names that English text never uses; those are
left to the model.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .text import normalize

_AR = {
    "ا": "A", "أ": "A", "إ": "I", "آ": "A", "ٱ": "A", "ى": "A", "ة": "A", "و": "U", "ي": "I", "ؤ": "U", "ئ": "I",
    "ب": "B", "پ": "B", "ت": "T", "ث": "Θ", "ج": "G", "ح": "Ḥ", "خ": "K", "د": "D", "ذ": "D", "ر": "R", "ز": "S",
    "س": "S", "ش": "X", "ص": "S", "ض": "D", "ط": "T", "ظ": "S", "غ": "G", "ف": "F", "ڤ": "F", "ق": "K", "ك": "K",
    "گ": "G", "ل": "L", "م": "M", "ن": "N", "ه": "H", "ی": "I", "ک": "K",
}  # X stands for the sh sound, Θ for th, Ḥ for ح (an English h); ء and ع are silent in transcribed names
# Two vowel letters that may spell one vowel sound, which Arabic writes with
# one letter (Sergei سيرغي, Nikolai نيكولاي, Keith كيث), or two (Ismail إسماعيل, Raoul راؤول).
_EN_PAIRS = (("ee", "I"), ("ea", "I"), ("ei", "I"), ("ey", "I"), ("ai", "I"), ("ay", "I"), ("oo", "U"), ("ou", "U"), ("oa", "U"), ("eu", "UI"))
_EN_MULTI = (("au", "U"), ("sch", "X"), ("tch", "X"), ("sh", "X"), ("ch", "X"), ("kh", "K"), ("gh", "G"), ("ph", "F"), ("th", "Θ"), ("ck", "K"), ("zh", "G"), ("dj", "G"))
_EN = {
    "b": "B", "p": "B", "d": "D", "f": "F", "v": "F", "g": "G", "j": "G", "k": "K", "q": "K", "l": "L", "m": "M", "n": "N",
    "r": "R", "s": "S", "z": "S", "t": "T", "h": "H", "w": "U", "y": "I", "a": "A", "e": "I", "i": "I", "o": "U", "u": "U",
}
_VOWELS = frozenset("AUIE")  # E: a silent final e (Nicole), which Arabic does not write
_LONG = {"a": "I", "e": "I", "i": "I", "o": "U", "u": "U"}  # a vowel before consonant + silent e: Jake جيك, Mike مايك, Stone ستون
_TANWEEN = re.compile("[\u064b-\u064d]")
_DIACRITICS = re.compile("[\u064b-\u065f\u0670\u0640]")
_PREFIXES = ("و", "ب", "ل", "ف", "ك")
_MIN_ZIPF = 1.0  # English words rarer than this are not trusted
_MAX_COST = 1.6  # worse alignments are not a spelling of the same name
_W_CLOSE = 0.5  # weight of |English zipf - Arabic zipf|: a name is about as common in both
_W_FREQ = 0.2  # weight of English frequency itself
_PREFIX_PENALTY = 0.6  # reading a leading و ب ل ف ك as a clitic, not part of the name
_SHORT_VOWEL = 0.3  # an English vowel that Arabic script leaves out
_COMMON_ARABIC = 4.8  # Arabic words this frequent are vocabulary, not names
_NAME_COST = 0.3  # a glossary entry needs a close match
_INFLECTED = 3.8  # a word whose inflected forms are this frequent is Arabic vocabulary
_PRONOUN_SUFFIXES = ("هما", "هم", "ها", "ه", "كم", "وا")
_VERB_PREFIXES = ("ي", "ت", "ن", "أ")
_INFLECTION_SUFFIXES = ("ت", "ون", "ين")  # وا is a pronoun suffix (below); not ان: أدريان is Adrian, not أدري
_AFFIXED_STEM = 4.6  # a word one affix away from an Arabic word this frequent is vocabulary
_PLURAL_VERB = 2.0  # a verb's plural (أجروا, شدّدوا) this frequent at least tells its dual (أجريا, شدّدا)
_VERB_EVIDENCE = 2.5  # a plural or present form (لوّحوا, يلوّح) this frequent tells a feminine past (لوّحت)


def _unclitic(word: str, shortest: int = 4) -> str:
    """word without a leading clitic و ب ل ف ك ("" when it has none or would be too short)."""
    return word[1:] if word[:1] in _PREFIXES and len(word) >= shortest else ""


@dataclass(frozen=True)
class Spelling:
    """An English spelling found for an Arabic word, with its alignment cost."""

    arabic: str
    english: str
    cost: float
    zipf: float


def arabic_key(word: str) -> tuple[str, ...]:
    """Sound classes of an Arabic word (consonants and long vowels)."""
    word = _DIACRITICS.sub("", word)
    if len(word) > 1 and word[0] in "أإا" and word[1] in "وي":
        word = word[1:]  # أو / إي open a word with a vowel
    out: list[str] = []
    i = 0
    while i < len(word):
        if word.startswith("تش", i):
            cls, i = "X", i + 2
        elif word.startswith("اي", i) and i:
            cls, i = "I", i + 2  # a diphthong: بايدن is Biden
        else:
            cls, i = _AR.get(word[i], ""), i + 1
        if cls and not (out and out[-1] == cls and cls not in _VOWELS):
            out.append(cls)
    return tuple(out)


def english_keys(word: str) -> tuple[tuple[str, ...], ...]:
    """The sound-class readings of a lowercase English word: its vowel pairs as two vowels, and as one."""
    return tuple(dict.fromkeys((english_key(word), english_key(word, pairs=True))))


def english_key(word: str, pairs: bool = False) -> tuple[str, ...]:
    """Sound classes of a lowercase English word (`pairs`: a vowel pair as one vowel, see _EN_PAIRS).

    A final e after a consonant is silent (E), and lengthens a single vowel
    before that consonant, as Arabic writes it: Jake جيك, Mike مايك.
    """
    multi = (_EN_PAIRS + _EN_MULTI) if pairs else _EN_MULTI
    silent = len(word) >= 3 and word[-1] == "e" and word[-2] not in "aeiouy"
    body = word[:-1] if silent else word
    long_at = len(body) - 2 if silent and len(body) >= 2 and body[-2] in _LONG and (len(body) < 3 or body[-3] not in "aeiouy") else -1
    out: list[str] = []
    i = 0
    while i < len(body):
        for letters, sound in multi:
            if body.startswith(letters, i):
                cls = sound
                i += len(letters)
                break
        else:
            ch = body[i]
            i += 1
            if i - 1 == long_at:
                cls = _LONG[ch]
            elif ch == "c":
                cls = "S" if i < len(word) and word[i] in "eiy" else "K"
            elif ch == "x":
                out.extend(c for c in ("K", "S") if not (out and out[-1] == c))
                continue
            else:
                cls = _EN.get(ch, "")
        if len(cls) > 1:  # German eu, as Arabic writes it: Reuters رويترز, Freud فرويد
            out.extend(cls)
        elif cls and not (out and out[-1] == cls and cls not in _VOWELS):
            out.append(cls)
    return (*out, "E") if silent else tuple(out)


def _skeleton(key: tuple[str, ...]) -> tuple[str, ...]:
    return tuple("T" if c == "Θ" else c for c in key if c not in _VOWELS and c not in "HḤ")


def _substitution(a: str, e: str) -> float:
    """Cost of reading Arabic sound class a as English class e."""
    if a == e:
        return 0.0
    if a == "Ḥ" and e == "H":
        return 0.0
    if a == "T" and e == "Θ":
        return 0.1  # th is written ت as well as ث (Thomas توماس); ث is never a plain t (بيث is Beth, not Pitt)
    if e == "E" and a == "I":
        return _SHORT_VOWEL  # a silent e is not written: نيكولاي is Nikolai rather than Nicole
    return 0.5 if a in _VOWELS and e in _VOWELS else math.inf


def _cost(ar: tuple[str, ...], en: tuple[str, ...]) -> float:
    """Edit cost of reading the English word into the Arabic one (consonants must agree)."""
    inf = 99.0
    rows, cols = len(ar) + 1, len(en) + 1
    d = [[inf] * cols for _ in range(rows)]
    d[0][0] = 0.0
    for i in range(rows):
        for j in range(cols):
            if i == j == 0:
                continue
            best = inf
            if i and j:
                a, e = ar[i - 1], en[j - 1]
                best = d[i - 1][j - 1] + _substitution(a, e)
            if j:  # an English letter Arabic does not write: short vowel, silent h or e
                e = en[j - 1]
                best = min(best, d[i][j - 1] + (_SHORT_VOWEL if e in _VOWELS or e == "H" else inf))
            if i:  # an Arabic letter English does not write
                a = ar[i - 1]
                best = min(best, d[i - 1][j] + (0.7 if a in _VOWELS else 0.5 if a == "H" else inf))  # ه may be silent, ح never
            d[i][j] = best
    return d[-1][-1]


@functools.lru_cache(maxsize=1)
def _lexicon() -> dict[tuple[str, ...], list[tuple[str, tuple[str, ...], float]]]:
    """English words by consonant skeleton (built once per process, ~3 s)."""
    from wordfreq import get_frequency_dict

    table: dict[tuple[str, ...], list[tuple[str, tuple[str, ...], float]]] = {}
    for word, frequency in get_frequency_dict("en", wordlist="large").items():
        if len(word) < 3 or not word.isascii() or not word.isalpha() or not any(v in word for v in "aeiou"):
            continue
        zipf = math.log10(frequency) + 9
        if zipf < _MIN_ZIPF:
            continue
        for key in english_keys(word):
            table.setdefault(_skeleton(key), []).append((word, key, zipf))
    return table


_PEOPLE_NAMES = 2  # a word of people's names is looked up when this many names spell it one way,
_PEOPLE_SHARE = 2 / 3  # ... this share of those that have it at least,
_PEOPLE_COST = 1.0  # ... and it sounds like that spelling (names in another word order pair unrelated words)


@functools.lru_cache(maxsize=1)
def _people() -> dict[str, str]:
    """Words of well-known people's names in Arabic script mapped to their usual English spelling.

    Arabic Wikipedia's names of about 3,100 people, from the arwikicats package
    ("james baker": "جيمس بيكر"), paired word by word where both forms have as
    many words. Accents are dropped (Valéry: Valery), as English news mostly does."""
    import json
    import unicodedata
    from collections import Counter
    from importlib import metadata

    path = metadata.distribution("arwikicats").locate_file("ArWikiCats/jsons/people/peoples.json")
    seen: dict[str, Counter[str]] = {}
    for english, arabic in json.loads(Path(str(path)).read_text(encoding="utf-8")).items():
        ar, en = arabic.split(), unicodedata.normalize("NFKD", english).encode("ascii", "ignore").decode().split()
        if len(ar) == len(en):
            for a, e in zip(ar, en, strict=True):
                if e.isalpha() and len(e) > 1 and _ARABIC_TOKEN.fullmatch(a):
                    seen.setdefault(_bare(a), Counter())[e] += 1
    found = {}
    for arabic, counts in seen.items():
        english, n = counts.most_common(1)[0]
        key = arabic_key(arabic)
        if n >= _PEOPLE_NAMES and n >= _PEOPLE_SHARE * counts.total() and key and min(_cost(key, k) for k in english_keys(english)) <= _PEOPLE_COST:
            found[arabic] = english.capitalize()
    return found


def _looked_up(word: str) -> tuple[str, float] | None:
    """(English spelling, clitic penalty) of a bare word found among well-known people's
    names, itself or without a leading clitic (وجيمس: James); None when it is not there."""
    stem = _unclitic(word)
    for form, penalty in ((word, 0.0), (stem, _PREFIX_PENALTY)):
        if form and (known := _people().get(form)):
            return known, penalty
    return None


@functools.lru_cache(maxsize=4096)
def spell(arabic_word: str) -> Spelling | None:
    """The usual English spelling of one Arabic word, or None when none is known:
    a word of well-known people's names as they spell it, else by sound."""
    word = _bare(arabic_word)
    if len(word) < 2:
        return None
    if found := _looked_up(word):
        from wordfreq import zipf_frequency

        known, penalty = found
        zipf = zipf_frequency(known, "en")
        return Spelling(arabic_word, known, round(penalty - _W_FREQ * zipf, 2), zipf)
    tries = [(word, 0.0)] + ([(stem, _PREFIX_PENALTY)] if (stem := _unclitic(word)) else [])
    best: Spelling | None = None
    for form, penalty in tries:
        key = arabic_key(form)
        skeleton = _skeleton(key)
        if not skeleton:
            continue
        # A name is about as common in English text as in Arabic text; a common
        # English word that happens to sound alike (يوري / "your") is not.
        arabic_zipf = max(_arabic_zipf(form), 1.0)
        for english, ekey, zipf in _lexicon().get(skeleton, ()):
            cost = _cost(key, ekey) + penalty + _W_CLOSE * abs(zipf - arabic_zipf) - _W_FREQ * zipf
            if cost <= _MAX_COST and (best is None or cost < best.cost):
                best = Spelling(arabic_word, english.capitalize(), round(cost, 2), zipf)
    return best


_ARABIC_TOKEN = re.compile(r"[\u0621-\u064a\u0671-\u06d3\u064b-\u0652]+")  # an Arabic word, diacritics included
_PERSIAN = str.maketrans({"ی": "ي", "ک": "ك"})  # Persian yeh and keheh, common in typed Arabic (یوم is يوم)


@functools.lru_cache(maxsize=4096)
def _arabic_zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word.translate(_PERSIAN), "ar")


def is_name_like(arabic_word: str) -> bool:
    """True for a word that reads as a transcribed name, not Arabic vocabulary.

    Four tests, all needed: the Arabic word is not very common Arabic; it
    does not inflect like Arabic vocabulary (see `_inflects`); it
    aligns closely with an English word; and that English word is not plain
    English vocabulary. Names are about as frequent in other European
    languages' text as in English, vocabulary ("fury", "road") is not; names
    rare everywhere (Patrushev) pass.
    """
    bare = _bare(arabic_word)
    if _vocabulary(arabic_word):
        return False
    if _looked_up(bare):
        return True
    spelling = spell(bare)
    if spelling is None or spelling.cost > _NAME_COST:
        return False
    return spelling.zipf < 2.5 or _english_gap(spelling.english.lower()) < 0.75


def _bare(word: str) -> str:
    return _DIACRITICS.sub("", word).strip("«»\"'()[]،,.:؛؟!")


def _vocabulary(arabic_word: str) -> bool:
    """True for a word that is Arabic vocabulary by its Arabic form alone: short, very
    common, with the article, inflected, with an indefinite ending (ورداً), or a clitic
    on a very common or inflected word (بأعضاء, "with members"; وسميت, "and was named")."""
    bare = _bare(arabic_word)
    if _TANWEEN.search(arabic_word) or len(bare) < 3 or bare.startswith("ال") or _clitic_article(bare):
        return True
    stem = _unclitic(bare)
    return _arabic_zipf(bare) >= _COMMON_ARABIC or bool(stem and (_arabic_zipf(stem) >= _COMMON_ARABIC or _inflects(stem))) or _inflects(bare)


def _clitic_article(word: str) -> bool:
    """True for a clitic before the article: والتصعيد is و + التصعيد (but فاليري is Valerie)."""
    return word[0] in _PREFIXES and word[1:3] == "ال" and _arabic_zipf(word[1:]) >= _INFLECTED - 1


@functools.lru_cache(maxsize=4096)
def _inflects(word: str) -> bool:
    """True for Arabic vocabulary recognized by its inflection.

    A transcribed foreign name takes clitics (وبوتين) but not the article or
    pronoun suffixes: الصراع and يدفعها are common, البوتين and بوتينها are
    not. And a word that is a common stem plus a pronoun suffix (قوله: قول + ه,
    "his saying") is vocabulary too, as is a past-tense verb in the dual or the
    feminine (أجريا, لوّحت: see `_verb_form`).
    """
    stem = word[:-1] if word.endswith("ة") else word
    forms = ("ال" + word, stem + "ه", stem + "ها", stem + "هم", stem + "ات")
    if max(_arabic_zipf(f) for f in forms) >= _INFLECTED:
        return True
    for base in _unaffixed(word):
        if _arabic_zipf(base) >= _AFFIXED_STEM:
            return True
    if _verb_form(word):
        return True
    for suffix in _PRONOUN_SUFFIXES:
        base = word[: -len(suffix)]
        if word.endswith(suffix) and len(base) >= 2:
            bases = (base, _unclitic(base, shortest=3), base[:-1] + "ة" if base.endswith("ت") else "")  # أمته: أمة + ه
            if any(b and _arabic_zipf(b) >= _INFLECTED for b in bases):
                return True
    return False


def _verb_form(word: str) -> bool:
    """True for a past-tense verb a suffix hides: the dual (أجريا, شدّدا, "the two held, stressed")
    or the feminine (لوّحت, "she waved"; عبرت, سميت).

    A dual's plural (أجروا, شدّدوا) is at least as common as the dual; a name ending
    in ا is more common than any plural that sounds like it (ناديا, نادوا). A
    feminine past is rarer than its stem, the masculine past (لوّح), whose plural
    or present (لوّحوا, يلوّح) is common too; names ending in ت have no such forms
    (روبرت, جوليت) or a stem too short to tell (كيت, مات)."""
    stem = word[:-1]
    if word.endswith("ا") and len(word) >= 4:
        plurals = [stem + "وا"] + ([stem[:-1] + "وا"] if stem.endswith("ي") else [])  # أجرى: أجريا, أجروا
        return max(_arabic_zipf(p) for p in plurals) >= max(_arabic_zipf(word), _PLURAL_VERB)
    if word.endswith("ت") and len(stem) >= 3:
        return _arabic_zipf(stem) >= _arabic_zipf(word) and max(_arabic_zipf(stem + "وا"), _arabic_zipf("ي" + stem)) >= _VERB_EVIDENCE
    return False


def _unaffixed(word: str) -> list[str]:
    """word without one verb prefix (يدفع → دفع) or one inflection suffix (طالبت → طالب, مرتين → مرت)."""
    out = [word[1:]] if word[0] in _VERB_PREFIXES and len(word) >= 4 else []
    return out + [word[: -len(s)] for s in _INFLECTION_SUFFIXES if word.endswith(s) and len(word) - len(s) >= 3]


@functools.lru_cache(maxsize=4096)
def _english_gap(word: str) -> float:
    """How much more frequent word is in English than in other European languages."""
    from wordfreq import zipf_frequency

    others = sorted(zipf_frequency(word, lang) for lang in ("de", "fr", "es", "it", "nl", "pl"))
    return zipf_frequency(word, "en") - others[-3]


@functools.lru_cache(maxsize=1)
def _territories() -> list[tuple[str, str, str]]:
    """(code, Arabic name, English name) of the countries and regions CLDR names in both languages."""
    from babel import Locale

    ar, en = Locale("ar"), Locale("en")
    return [(code, name, en.territories[code]) for code, name in ar.territories.items() if code in en.territories]


@functools.lru_cache(maxsize=1)
def _cldr() -> dict[str, str]:
    """Normalized Arabic names of places and months mapped to English (Unicode CLDR:
    countries, regions, cities; the months of every Arabic locale: نيسان, أبريل, أفريل)."""
    from babel import Locale
    from babel.localedata import locale_identifiers

    ar, en = Locale("ar"), Locale("en")
    out = {normalize(arabic): english for _, arabic, english in _territories()}
    for zone, info in ar.time_zones.items():
        if city := info.get("city"):
            city = normalize(city)
            if " " not in city and not city.startswith("ال") and _inflects(city):
                continue  # نوم (Nome) is also "sleep"
            english = (en.time_zones.get(zone) or {}).get("city") or zone.rsplit("/", 1)[-1].replace("_", " ")
            out.setdefault(city, english)
    english_months = en.months["format"]["wide"]
    for identifier in locale_identifiers():
        if identifier == "ar" or identifier.startswith("ar_"):
            for number, month in Locale.parse(identifier).months["format"]["wide"].items():
                folded = normalize(month)
                out.setdefault(folded if len(folded) > 2 else month, english_months[number])  # آب as written: folded, it is also أب "father"
    return {k: v for k, v in out.items() if v[:1].isupper()}  # "world" is vocabulary


_MAX_CLDR_WORDS = 3
_MAX_RUN = 8  # longest acronym or name run looked at


def cldr_name(words: list[str]) -> tuple[int, str] | None:
    """The longest place or month name opening `words` (a leading clitic و ب ل ف ك allowed): (words used, English)."""
    known = _cldr()
    for n in range(min(_MAX_CLDR_WORDS, len(words)), 0, -1):
        phrase = normalize(" ".join(words[:n]))
        for form in (phrase, _unclitic(phrase), _bare(words[0]) if n == 1 else ""):  # a two-letter name is kept as written
            if form and form in known:
                return n, known[form]
    return None


# English letters as Arabic writes them in acronyms: إن بي سي is NBC, سي آي إيه is CIA.
_LETTERS = {
    **dict.fromkeys(("إيه", "ايه", "أيه"), "A"), "بي": "B", "سي": "C", "دي": "D", "إي": "E", **dict.fromkeys(("إف", "اف"), "F"),
    "جي": "G", **dict.fromkeys(("إتش", "اتش", "إيتش"), "H"), "آي": "I", **dict.fromkeys(("جيه", "جاي"), "J"), **dict.fromkeys(("كيه", "كاي"), "K"),
    "إل": "L", "إم": "M", "إن": "N", "أو": "O", "كيو": "Q", "آر": "R", "إس": "S", "تي": "T", "يو": "U", "في": "V", "دبليو": "W",
    "إكس": "X", "واي": "Y", **dict.fromkeys(("زد", "زي"), "Z"),
}
_WORD_LETTERS = frozenset(("إن", "أو", "في", "دي", "بي", "إيه", "ايه"))  # also Arabic words: "that", "or", "in", "this", "with me", "what"


def acronym(words: list[str]) -> tuple[int, str] | None:
    """The acronym spelled letter by letter at the start of `words` (إن بي سي → NBC): (words used, English).

    It takes two letters or more, one of them a letter name that is not also an Arabic word.
    A letter name that is also a word, at its end, is left to the sentence while the
    acronym without it is the commoner in English: in "قالت سي إن إن إن الرئيس …" ("CNN
    said that the president …") the third إن is "that" (CNNN → CNN), not in "سي إن إن" (CN)."""
    from wordfreq import zipf_frequency

    bare = [_bare(word) for word in words]
    letters = list(itertools.takewhile(bool, (_LETTERS.get(word, "") for word in bare)))
    while len(letters) > 2 and bare[len(letters) - 1] in _WORD_LETTERS and zipf_frequency("".join(letters[:-1]).lower(), "en") > zipf_frequency("".join(letters).lower(), "en"):
        letters.pop()
    if len(letters) < 2 or set(bare[: len(letters)]) <= _WORD_LETTERS:
        return None
    return len(letters), "".join(letters)


_HINT_COST = 0.8  # how closely an Arabic word must sound like a name the user wrote
_HINT_ZIPF = 4.5  # an uncapitalized word this rare in English may be a name ("sullivan"); "was", "talk" are not


def _hint_keys(hints: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """The words of the user's text that could be names, with their sound keys: capitalized
    inside a sentence, or rare in English ("who did sullivan talk to?")."""
    from wordfreq import zipf_frequency

    places = {english.lower() for english in _cldr().values()}  # CLDR names these on the Arabic side
    out: list[tuple[str, tuple[str, ...]]] = []
    for text in hints:
        for m in re.finditer(r"[A-Za-z][A-Za-z']+", text):  # "the Austin-Shoigu call" names two
            word = re.sub(r"'s?$", "", m.group())  # Sullivan's
            initial = not text[: m.start()].strip() or text[: m.start()].rstrip()[-1] in ".?!:;\"(“"
            capitalized = word[0].isupper() and not initial
            if len(word) >= 3 and (capitalized or zipf_frequency(word.lower(), "en") < _HINT_ZIPF) and word.lower() not in places:
                out.extend((word if word[0].isupper() else word.capitalize(), key) for key in english_keys(word.lower()))
    return list(dict.fromkeys(out))


def _hinted(word: str, hints: list[tuple[str, tuple[str, ...]]]) -> tuple[str, str] | None:
    """(Arabic form, the user's spelling) when word sounds like a name the user wrote.

    Only the Arabic-side tests apply (the word must not be Arabic vocabulary):
    the English side is known, so a name that is also an English word (Burns)
    is taken. A word with a clitic gives its stem (لبيرنز → بيرنز)."""
    if not hints or _vocabulary(word):
        return None
    bare = _bare(word)
    stem = _unclitic(bare)
    best: tuple[float, str, str] | None = None
    for form, shown in ((bare, word), (stem, stem)):  # the whole word is shown as written (diacritics kept)
        key = arabic_key(form) if form else ()
        if not _VOWELS.intersection(key):
            continue  # a transcribed name writes its vowels; نزع ("removal") is not News
        for english, ekey in hints:
            if _skeleton(key) == _skeleton(ekey) and (cost := _cost(key, ekey)) <= _HINT_COST and (best is None or cost < best[0]):
                best = (cost, shown, english)
    return (best[1], best[2]) if best else None


Similarity = Callable[[list[tuple[str, str]]], list[float]]

_PHRASE_COST = 0.5  # how closely a word of a transcribed English phrase must align with an English word
_PHRASE_CHOICES = 8  # English words tried for each word of such a phrase
_PHRASE_ZIPF = 3.5  # ... all of them common English words (Street, Long), not rare sound-alikes of Arabic verbs (ألمح, "Almah")
_EVERYDAY_ZIPF = 5.0  # a word read as a name is also tried as an English word this common (نيو: New; not سيرجي: Sergio)
_EVERYDAY_COST = 0.3  # ... that sounds that close: a vowel may be unwritten, not another (بيث is Beth, not Both)


@functools.lru_cache(maxsize=4096)
def spellings(arabic_word: str, min_zipf: float = _PHRASE_ZIPF, max_cost: float = _PHRASE_COST) -> tuple[str, ...]:
    """Common English words, vocabulary included, that sound like arabic_word: closest and commonest first.

    The words of a transcribed English phrase (وول ستريت جورنال) are English
    vocabulary, which `spell` does not offer for a name: وول gives Will, Owl,
    Well, Oil, Wall, and only the whole phrase tells which.
    """
    key = arabic_key(arabic_word)
    skeleton = _skeleton(key)
    if not skeleton:
        return ()
    words = _lexicon().get(skeleton, ())
    ranked = sorted((cost - _W_FREQ * zipf, english) for english, ekey, zipf in words if zipf >= min_zipf and (cost := _cost(key, ekey)) <= max_cost)
    return tuple(dict.fromkeys(english.capitalize() for _, english in ranked))[:_PHRASE_CHOICES]


@dataclass(frozen=True)
class _Unit:
    """Words read together: a place or month, an acronym, a name, or a word read as English vocabulary."""

    start: int
    size: int
    arabic: str  # as the glossary keys it: a name without its clitic (لبوتين → بوتين)
    options: tuple[str, ...]  # English readings, the current one first
    kind: str  # "place", "acronym", "hinted" (the user's spelling), "sounded" (a name read by sound), "vocabulary"
    clitic: bool = False  # a name that carried a clitic: it stands alone


def _units(tokens: list[str], joined: list[bool], keys: list[tuple[str, tuple[str, ...]]], similarity: Similarity | None, keep: float) -> list[_Unit | None]:
    """The text read unit by unit; None for a word that is none of them.

    With `similarity`, names read by sound alone are checked in one batch and
    those below `keep` dropped: sound-alike lookup also finds English words
    for Arabic vocabulary (يعلن "Ellen"). A dropped name, and any other word
    that sounds like common English vocabulary, becomes a "vocabulary" unit,
    the stuff of `phrases`.
    """
    read: list[_Unit] = []
    i = 0
    while i < len(tokens):
        span = 1  # the words from here joined by spaces only
        while span < _MAX_RUN and i + span < len(tokens) and joined[i + span]:
            span += 1
        for kind, found in (("place", cldr_name(tokens[i : i + span])), ("acronym", acronym(tokens[i : i + span]))):
            if found:
                read.append(_Unit(i, found[0], " ".join(tokens[i : i + found[0]]), (found[1],), kind))
                i += found[0]
                break
        else:
            token = tokens[i]
            hinted = _hinted(token, keys)
            if name := hinted or _spelled(token):
                read.append(_Unit(i, 1, name[0], (name[1],), "hinted" if hinted else "sounded", name[0] != token))
            else:
                read.append(_Unit(i, 1, token, (), "word"))
            i += 1
    rejected: set[tuple[str, str]] = set()
    if similarity:
        sounded = list(dict.fromkeys((u.arabic, u.options[0]) for u in read if u.kind == "sounded"))
        rejected = {pair for pair, score in zip(sounded, similarity(sounded), strict=True) if score < keep}
    out: list[_Unit | None] = []
    for unit in read:
        if unit.kind != "word" and (unit.arabic, unit.options[0]) not in rejected:
            if unit.kind == "sounded" and similarity and not unit.clitic:  # a name may also be English words (نيو ستارت, New Start)
                unit = replace(unit, options=(unit.options[0], *(o for o in spellings(_bare(tokens[unit.start]), _EVERYDAY_ZIPF, _EVERYDAY_COST) if o != unit.options[0])))
            out.append(unit)
            continue
        token = tokens[unit.start]
        options = spellings(_bare(token)) if similarity and not _vocabulary(token) else ()
        out.append(_Unit(unit.start, 1, token, options, "vocabulary") if options else None)
    return out


def phrases(units: list[_Unit | None], tokens: list[str], joined: list[bool], similarity: Similarity, keep: float) -> dict[int, tuple[int, str]]:
    """Transcribed English phrases among the tokens: {first token: (tokens used, English)}.

    A phrase is a run of two or more words read by sound, at least one of
    them as English vocabulary (ستريت, Street), which `is_name_like` turns
    away: names of papers and channels (وول ستريت جورنال, إن بي سي نيوز), and people
    whose names are English words (ماري بيث لونغ, Mary Beth Long). Each word
    has a few English candidates; the embedding model, which knows the
    phrases, picks one word at a time against the others' first choices, and
    then the whole phrase is kept when it is this close to the Arabic, and
    closer than its other words alone: an Arabic verb before a name (أسس
    ترامب, "Trump founded") reads as "Ass Trump", which the embedding model
    puts further from the Arabic than "Trump". A run of names alone is read
    the same way when a word of it also sounds like an everyday English word
    (نيو ستارت: "Neo Stuart", or New Start), but not a run holding a place
    (تونس عانت, "Tunisia suffered"). Two batches of similarities per text.
    """
    runs: list[list[_Unit]] = []
    run: list[_Unit] = []
    for unit in [*[None if u is None or u.clitic else u for u in units], None]:
        if unit is None or (run and not joined[unit.start]):
            worded = any(u.kind == "vocabulary" for u in run)
            names_only = all(u.kind == "sounded" for u in run) and any(len(u.options) > 1 for u in run)  # نيو ستارت
            if len(run) >= 2 and (worded or names_only):
                runs.append(run)
            run = []
        if unit is not None:
            run.append(unit)
    if not runs:
        return {}
    arabic = [" ".join(tokens[r[0].start : r[-1].start + r[-1].size]) for r in runs]
    trials: list[tuple[int, int, str]] = []  # (run, unit, option)
    for n, r in enumerate(runs):
        trials.append((n, -1, ""))
        trials.extend((n, k, option) for k, unit in enumerate(r) for option in unit.options[1:])

    def english(n: int, chosen: dict[int, str]) -> str:
        return " ".join(chosen.get(k, unit.options[0]) for k, unit in enumerate(runs[n]))

    scores = similarity([(arabic[n], english(n, {k: option} if k >= 0 else {})) for n, k, option in trials])
    best: list[dict[int, tuple[float, str]]] = [{} for _ in runs]
    base = {n: score for (n, k, _), score in zip(trials, scores, strict=True) if k < 0}
    for (n, k, option), score in zip(trials, scores, strict=True):
        if k >= 0 and score > max(base[n], best[n].get(k, (-1.0, ""))[0]):
            best[n][k] = (score, option)
    final = [english(n, {k: option for k, (_, option) in best[n].items()}) for n in range(len(runs))]
    bare = [" ".join(u.options[0] for u in r if u.kind != "vocabulary") for r in runs]  # the run without its English words
    second = [(n, final[n]) for n in range(len(runs)) if best[n]] + [(n, bare[n]) for n in range(len(runs)) if bare[n]]
    scored = similarity([(arabic[n], text) for n, text in second])
    totals = {(n, text): score for (n, text), score in zip(second, scored, strict=True)}
    out: dict[int, tuple[int, str]] = {}
    for n, r in enumerate(runs):
        score, text = max((base[n], english(n, {})), (totals.get((n, final[n]), -1.0), final[n]))
        # the English words must bring the reading closer: "أسس ترامب" is not "Ass Trump"
        if score >= keep and score > totals.get((n, bare[n]), -1.0):
            out[r[0].start] = (r[-1].start + r[-1].size - r[0].start, text)
    return out


def glossary(text: str, hints: list[str] | None = None, similarity: Similarity | None = None, keep: float = 0.6, phrase_keep: float = 0.7) -> dict[str, str]:
    """Arabic name runs in text mapped to English spellings ("يوري أوشاكوف" → "Yuri Ushakov").

    Place and month names come from CLDR first. Adjacent name words form one
    run; a word carrying a clitic (لبوتين, "to Putin") stands alone, without
    its clitic. hints are the user's own texts (the question): a name written
    there keeps the user's spelling.

    `similarity` scores (Arabic, English) pairs by the embedding model (see
    `Assistant`). Every (Arabic word, English spelling) found by sound alone
    is scored in one batch, and kept from `keep` up: sound-alike lookup also
    finds English words for Arabic vocabulary (يعلن "Ellen"), which a
    cross-lingual check tells from a name's spelling. Lookups (CLDR, acronyms,
    the user's own spelling) are not checked. With `similarity`, transcribed
    English phrases are found too (`phrases`).
    """
    keys = _hint_keys(hints or [])
    matches = list(_ARABIC_TOKEN.finditer(text))
    tokens = [m.group() for m in matches]
    # name words are joined only by spaces: in "غيراسيموف، منعا" the name ends at the comma
    joined = [i > 0 and not text[matches[i - 1].end() : m.start()].strip() for i, m in enumerate(matches)]
    units = _units(tokens, joined, keys, similarity, keep)
    spelling = _one_spelling(units)
    found_phrases = phrases(units, tokens, joined, similarity, phrase_keep) if similarity else {}
    out: dict[str, str] = {}
    run: list[tuple[str, str]] = []

    def close() -> None:
        if run:
            out[" ".join(a for a, _ in run)] = " ".join(e for _, e in run)
            run.clear()

    covered = 0  # tokens before this one are part of a phrase already read
    for unit in units:
        if unit is not None and unit.start < covered:
            continue
        if unit is not None and (found := found_phrases.get(unit.start)):
            close()
            out[" ".join(tokens[unit.start : unit.start + found[0]])] = found[1]
            covered = unit.start + found[0]
            continue
        if unit is None or unit.kind == "vocabulary":
            close()
            continue
        if unit.kind == "place" or unit.clitic:  # each stands alone
            close()
            out[unit.arabic] = unit.options[0]
            continue
        if not joined[unit.start]:
            close()
        run.append((unit.arabic, spelling.get(unit.arabic, unit.options[0])))
    close()
    return out


def _one_spelling(units: list[_Unit | None]) -> dict[str, str]:
    """One English spelling for each name however the text transcribes it.

    Arabic news writes a foreign g as غ or ج (شويغو, شويجو) and the like; such
    variants sound alike (the same `arabic_key`) yet can be spelled apart
    (Shoigu, Shoygu), since the spelling weighs how common each Arabic form is.
    Every variant takes the spelling of the user's own word when the question
    wrote one, else of the most common variant."""
    named = [u for u in units if u is not None and u.kind in ("sounded", "hinted")]
    keys = {u.arabic: arabic_key(_bare(u.arabic)) for u in named}
    best: dict[tuple[str, ...], tuple[tuple[bool, float], str]] = {}
    for unit in named:
        rank, key = (unit.kind == "hinted", _arabic_zipf(_bare(unit.arabic))), keys[unit.arabic]
        if key not in best or rank > best[key][0]:
            best[key] = (rank, unit.options[0])
    return {arabic: best[key][1] for arabic, key in keys.items()}


def _spelled(token: str) -> tuple[str, str] | None:
    """(Arabic form, English spelling) of a name-like word; the form drops a clitic
    that the spelling does not need (وماكرون → ماكرون)."""
    if not is_name_like(token):
        return None
    spelling = spell(token)
    assert spelling is not None
    stem = _unclitic(_bare(token))
    if stem and (s := spell(stem)) is not None and s.english == spelling.english:
        return stem, spelling.english
    return token, spelling.english


def warm() -> None:
    """Load the word lists and place names (about 10 s once per process), so the first question does not wait for them."""
    from wordfreq import zipf_frequency

    _lexicon()
    _people()
    _cldr()
    _countries()
    for lang in ("ar", "en", "de", "fr", "es", "it", "nl", "pl"):
        zipf_frequency("a", lang)


_DEMONYM_ENDINGS = ("ese", "ian", "an", "ish", "i")  # Chinese, Russian, Syrian, Turkish, Iraqi
_NISBA_ENDINGS = ("ي", "يه", "يون", "يين", "يان")  # الصيني, الصينيه, الصينيون
_PROCLITICS = ("بال", "كال", "ال", "لل", "ب", "ك", "ل", "")  # after an optional و or ف: وللصين, بالصين, الصين


@functools.lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Countries with a one-word name in both languages (CLDR): English → normalized Arabic
    without the article (China → صين; Germany → المانيا, whose ال is not the article)."""
    out: dict[str, str] = {}
    for code, name, english in _territories():
        arabic = normalize(name)
        if code.isalpha() and english and " " not in arabic and " " not in english:
            out[english] = arabic[2:] if name.startswith("ال") else arabic
    return out


@functools.lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    """English country name → the Arabic stem its adjective is made from (روسيا → روس: الروسي)."""
    out: dict[str, str] = {}
    for english, stem in _country_names().items():
        for ending in ("يا", "ا", "ه"):
            if stem.endswith(ending) and len(stem) - len(ending) >= 3:
                stem = stem[: -len(ending)]
                break
        out[english] = stem
    return out


def countries_named(text: str) -> dict[str, str]:
    """Countries a question names, by name or adjective, in English (Chinese, China) or Arabic
    (الصيني, الصين): {English name: Arabic stem}. Only countries with one-word names
    in both languages: "the United States" is also أمريكا, واشنطن, الأمريكي."""
    countries = _countries()
    found: dict[str, str] = {}
    for m in re.finditer(r"[A-Z][a-z]+", text):
        word = m.group()
        if word in countries:
            found[word] = countries[word]
            continue
        for ending in _DEMONYM_ENDINGS:
            stem = word[: -len(ending)]
            if word.endswith(ending) and len(stem) >= 4:
                matches = [c for c in countries if c.startswith(stem) and len(c) - len(stem) <= 2]  # Turkish is not Turkmenistan
                if len(matches) == 1:
                    found[matches[0]] = countries[matches[0]]
                    break
    by_stem = {stem: english for english, stem in countries.items()}
    by_name = {name: english for english, name in _country_names().items()}
    for word in re.findall(r"[\u0621-\u064a]+", normalize(text)):
        for conj in ("", "و", "ف"):
            for clitic in _PROCLITICS:
                prefix = conj + clitic
                bare = word[len(prefix) :]
                if not word.startswith(prefix) or len(bare) < 3:
                    continue
                if bare in by_name:
                    found[by_name[bare]] = countries[by_name[bare]]
                for ending in _NISBA_ENDINGS:
                    stem = bare[: -len(ending)]
                    # an adjective needs the article (وزير الخارجية الصيني): صيني alone may be other words
                    if bare.endswith(ending) and stem in by_stem and clitic.endswith(("ال", "لل")):
                        found[by_stem[stem]] = stem
    return found


_RARE_ARABIC = 4.5  # an Arabic question word rarer than this, and not vocabulary, names something (كوميرسانت; بوتين is 4.2)


class Mentions:
    """Finds the words of a collection of texts that name what a question names.

    A question about a rare name ("Who is Kupchan?", "ما هي كوميرسانت؟") is
    short and says little else, so the embedding model scores every sentence
    low, the sentence that names it too. The name itself is the evidence: an
    English question's names are matched by sound (Kupchan: كوبشان, as
    `glossary` takes the user's spelling), an Arabic question's rare words as
    written (a leading clitic aside). Places CLDR names are left out (Moscow,
    موسكو): articles name them too often for a mention to tell anything; a
    place it lacks (Ankara) counts like a name. Words are compared bare (no
    diacritics or punctuation).
    """

    def __init__(self, words: Iterable[str]) -> None:
        """`words`: the Arabic words of the texts, bare (see `words_of`)."""
        self._by_skeleton: dict[tuple[str, ...], set[str]] = {}
        self._by_form: dict[str, set[str]] = {}
        for word in set(words):
            for form in (word, _unclitic(word)):
                if form:
                    self._by_form.setdefault(form, set()).add(word)
                    self._by_skeleton.setdefault(_skeleton(arabic_key(form)), set()).add(word)

    def __call__(self, question: str) -> set[str]:
        """The words of the texts (bare) that name what the question names."""
        found: set[str] = set()
        for english, key in _hint_keys([question]):
            found.update(w for w in self._by_skeleton.get(_skeleton(key), ()) if _hinted(w, [(english, key)]))
        for token in _ARABIC_TOKEN.findall(question):
            word = _bare(token)
            if _vocabulary(word) or _arabic_zipf(word) >= _RARE_ARABIC or cldr_name([word]):
                continue
            for form in (word, _unclitic(word)):
                found.update(self._by_form.get(form, ()) if form else ())
        return found


def words_of(text: str) -> set[str]:
    """The Arabic words of a text, bare, as `Mentions` gives them."""
    return {_bare(w) for w in _ARABIC_TOKEN.findall(text)}

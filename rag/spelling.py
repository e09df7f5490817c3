"""English spellings of single Arabic-script words, by sound or from a list of people's names.

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

`is_name_like` tells a name from Arabic vocabulary (word frequency and
inflection), so that يعلن ("announces") is not read as "Ellen".
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .settings import user_cache
from .text import CLITICS, PERSIAN, TANWEEN, strip_marks

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
# The letter groups above as one pattern each, tried in their order (the lexicon reads 280,000 words with them)
_EN_MULTI_RE = {pairs: re.compile("|".join(re.escape(letters) for letters, _ in groups)) for pairs, groups in ((False, _EN_MULTI), (True, _EN_PAIRS + _EN_MULTI))}
_EN_SOUNDS = dict(_EN_MULTI + _EN_PAIRS)
_LONG = {"a": "I", "e": "I", "i": "I", "o": "U", "u": "U"}  # a vowel before consonant + silent e: Jake جيك, Mike مايك, Stone ستون
_MIN_ZIPF = 1.0  # English words rarer than this are not trusted
_MAX_COST = 1.6  # worse alignments are not a spelling of the same name
_W_CLOSE = 0.5  # weight of |English zipf - Arabic zipf|: a name is about as common in both
_W_FREQ = 0.2  # weight of English frequency itself


class Weights(NamedTuple):
    """How a sound-alike English word is weighed besides its alignment: by how close its frequency is to
    the Arabic word's (`close`) and by its frequency itself (`freq`)."""

    close: float
    freq: float


# Whether a word reads as a name (`is_name_like`) is decided with the weights it was built on; the
# spelling shown for a name leans more on how common the English word is: Steelers over Stealers,
# Elway over Eloi, Austin over Austen. Left out of the people's names list one by one
# (bench/spelling.py), the list's spelling is found for 0.71 of its words against 0.67.
NAME_TEST = Weights(_W_CLOSE, _W_FREQ)
SHOWN = Weights(0.25, 0.3)
_SHOWN_FROM = 5  # ... for words this long: among a short word's sound-alikes the common ones are vocabulary (آن: Anne, not Any)
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
    return word[1:] if word[:1] in CLITICS and len(word) >= shortest else ""


@dataclass(frozen=True)
class Spelling:
    """An English spelling found for an Arabic word, with its alignment cost."""

    arabic: str
    english: str
    cost: float
    zipf: float


def arabic_key(word: str) -> tuple[str, ...]:
    """Sound classes of an Arabic word (consonants and long vowels)."""
    word = strip_marks(word)
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
    multi = _EN_MULTI_RE[pairs]
    silent = len(word) >= 3 and word[-1] == "e" and word[-2] not in "aeiouy"
    body = word[:-1] if silent else word
    long_at = len(body) - 2 if silent and len(body) >= 2 and body[-2] in _LONG and (len(body) < 3 or body[-3] not in "aeiouy") else -1
    out: list[str] = []
    i = 0
    while i < len(body):
        if found := multi.match(body, i):
            cls = _EN_SOUNDS[found.group()]
            i = found.end()
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


Lexicon = dict[tuple[str, ...], list[tuple[str, tuple[str, ...], float]]]


@functools.lru_cache(maxsize=1)
def _lexicon() -> Lexicon:
    """English words by consonant skeleton: built once (3 s on 2 cores), then read from the user's
    cache (a fifth of that) for as long as this module and the word list are unchanged.

    marshal, not pickle: the table is only dicts, lists, tuples, strings and floats, and
    reading it runs no code. A cache that cannot be read or written is rebuilt or skipped."""
    path = _lexicon_path()
    try:
        table = marshal.loads(path.read_bytes())
        if isinstance(table, dict):
            return table
    except (OSError, ValueError, EOFError, TypeError):
        pass
    table = _build_lexicon()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(table))
        os.replace(tmp, path)
        for old in path.parent.glob("english-lexicon-*.marshal"):  # made from an earlier version
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache: built again next time
    return table


def _lexicon_path() -> Path:
    """Where the lexicon is kept: named by what it is made from (this module's code, the word list's version, Python's)."""
    from importlib.metadata import version

    made_of = hashlib.sha256(Path(__file__).read_bytes())
    made_of.update(f"{version('wordfreq')} {sys.version_info[:2]} {marshal.version}".encode())
    return user_cache() / "rag" / f"english-lexicon-{made_of.hexdigest()[:16]}.marshal"


def _build_lexicon() -> Lexicon:
    from wordfreq import get_frequency_dict

    table: Lexicon = {}
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
def spell(arabic_word: str, weights: Weights = SHOWN) -> Spelling | None:
    """The usual English spelling of one Arabic word, or None when none is known:
    a word of well-known people's names as they spell it, else by sound."""
    word = _bare(arabic_word)
    if len(word) < 2:
        return None
    if found := _looked_up(word):
        from wordfreq import zipf_frequency

        known, penalty = found
        zipf = zipf_frequency(known, "en")
        return Spelling(arabic_word, known, round(penalty - weights.freq * zipf, 2), zipf)
    return by_sound(arabic_word, weights)


def by_sound(arabic_word: str, weights: Weights = SHOWN) -> Spelling | None:
    """The English word that sounds most like one Arabic word and is about as common, or None
    (the people's names are not looked at: `spell` looks there first)."""
    word = _bare(arabic_word)
    if len(word) < 2:
        return None
    if len(word) < _SHOWN_FROM:
        weights = NAME_TEST
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
            cost = _cost(key, ekey) + penalty + weights.close * abs(zipf - arabic_zipf) - weights.freq * zipf
            if cost <= _MAX_COST and (best is None or cost < best.cost):
                best = Spelling(arabic_word, english.capitalize(), round(cost, 2), zipf)
    return best


_ARABIC_TOKEN = re.compile(r"[\u0621-\u064a\u0671-\u06d3\u064b-\u0652]+")  # an Arabic word, diacritics included


@functools.lru_cache(maxsize=4096)
def _arabic_zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word.translate(PERSIAN), "ar")


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
    spelling = spell(bare, NAME_TEST)
    if spelling is None or spelling.cost > _NAME_COST:
        return False
    return spelling.zipf < 2.5 or _english_gap(spelling.english.lower()) < 0.75


def _bare(word: str) -> str:
    return strip_marks(word).strip("«»\"'()[]،,.:؛؟!")


def _vocabulary(arabic_word: str) -> bool:
    """True for a word that is Arabic vocabulary by its Arabic form alone: short, very
    common, with the article, inflected, with an indefinite ending (ورداً), or a clitic
    on a very common or inflected word (بأعضاء, "with members"; وسميت, "and was named")."""
    bare = _bare(arabic_word)
    if TANWEEN.search(arabic_word) or len(bare) < 3 or bare.startswith("ال") or _clitic_article(bare):
        return True
    stem = _unclitic(bare)
    return _arabic_zipf(bare) >= _COMMON_ARABIC or bool(stem and (_arabic_zipf(stem) >= _COMMON_ARABIC or _inflects(stem))) or _inflects(bare)


def _clitic_article(word: str) -> bool:
    """True for a clitic before the article: والتصعيد is و + التصعيد (but فاليري is Valerie)."""
    return word[0] in CLITICS and word[1:3] == "ال" and _arabic_zipf(word[1:]) >= _INFLECTED - 1


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

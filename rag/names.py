"""The names of a text with their English spellings: the glossary an English answer is written with.

Words are read in runs (`glossary`): place and month names are looked up, not
spelled by sound: Unicode CLDR (through Babel) gives the Arabic and English
names of every country and region, of ~400 cities and of the months in every
Arabic locale, so ليتوانيا is Lithuania, القاهرة Cairo (not al-Qahira) and
نيسان April (not Nissan). Acronyms spelled out in Arabic letters (سي آي إيه)
become CIA. Other name words are spelled one by one (rag.spelling).

When the user's question names someone ("Who did William Burns meet?"), an
Arabic word that sounds like that name takes the user's spelling: the answer
then speaks of the same Burns the question did, even where the word list
would have read the Arabic as another word (بيرنز as "Byrnes").

Names of papers and channels are often English words transcribed (وول ستريت
جورنال), which the sound lookup turns away as English vocabulary: with the
embedding model at hand, runs of such words are read as phrases (`phrases`).

A spelling found by sound alone is marked as heard (`Glossary.heard`), so a
reader can be shown the Arabic beside it. What this does not do: spell names
that English text never uses; those are left to the model.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from .spelling import (  # noqa: F401
    _ARABIC_TOKEN,
    _VOWELS,
    _W_FREQ,
    _arabic_zipf,
    _bare,
    _cost,
    _inflects,
    _lexicon,
    _looked_up,
    _people,
    _skeleton,
    _unclitic,
    _vocabulary,
    arabic_key,
    english_keys,
    is_name_like,
    spell,
)
from .text import month_names, normalize


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
    for month, number in month_names().items():
        if _ARABIC_TOKEN.match(month):
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


class Glossary(dict[str, str]):
    """Arabic names → English spellings, and which spellings were only heard.

    `heard` maps an English spelling that comes from the sound of the Arabic
    alone (not from the people list, CLDR, an acronym, a transcribed phrase or
    the user's own spelling) to the Arabic it was heard in: a name run
    ("Yuri Ushakov" → "يوري أوشاكوف") and each of its heard words. A reader is
    shown the Arabic beside such a spelling (prompting.tidy_english)."""

    def __init__(self, spellings: dict[str, str] | None = None, heard: dict[str, str] | None = None) -> None:
        super().__init__(spellings or {})
        self.heard = dict(heard or {})


def glossary(text: str, hints: list[str] | None = None, similarity: Similarity | None = None, keep: float = 0.6, phrase_keep: float = 0.7) -> Glossary:
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
    out = Glossary()
    run: list[tuple[str, str, bool]] = []  # (Arabic, English, heard)

    def close() -> None:
        if run:
            out[" ".join(a for a, _, _ in run)] = english = " ".join(e for _, e, _ in run)
            for arabic, spelled, heard in run:
                if heard:
                    out.heard.setdefault(spelled, arabic)
            if any(heard for _, _, heard in run):
                out.heard.setdefault(english, " ".join(a for a, _, _ in run))
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
        heard = unit.kind == "sounded" and _looked_up(_bare(unit.arabic)) is None
        if unit.kind == "place" or unit.clitic:  # each stands alone
            close()
            run.append((unit.arabic, unit.options[0], heard))
            close()
            continue
        if not joined[unit.start]:
            close()
        run.append((unit.arabic, spelling.get(unit.arabic, unit.options[0]), heard))
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
    whole = _bare(token) in _people()  # ويليام is William, not و + يليام
    if stem and not whole and (s := spell(stem)) is not None and s.english == spelling.english:
        return stem, spelling.english
    return token, spelling.english


def warm() -> None:
    """Load the word lists and place names (about 2 s once per process on 2 cores, 5 s the first time, while the lexicon is built), so the first question does not wait for them."""
    from wordfreq import zipf_frequency

    _lexicon()
    _people()
    _cldr()
    for lang in ("ar", "en", "de", "fr", "es", "it", "nl", "pl"):
        zipf_frequency("a", lang)


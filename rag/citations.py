"""Turning [n] markers into checked citations.

Markers map back through the same numbering the prompt used; a marker that
points at no passage is dropped. Each cited sentence is checked against its
passage: it is *supported* when the names, numbers and months it contains occur in
the passage (after Arabic normalization) and enough of its content words do,
or when it states no name the passage lacks and is semantically close to a
passage sentence. The citation carries the passage sentence that best
supports the claim and its character span in the chunk, so a UI can
highlight it. An answer without markers gets citations
by matching its sentences to the passages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .documents import MONTHS
from .retrieval import Passage
from .text import normalize, proclitic_forms, split_sentences, words

_MARKER = re.compile(r"\s*\[(\d{1,3})\]")
_NUMBER = re.compile(r"\d+")
# Arabic function words and clitic-only tokens carry no claim.
_STOP = set(
    words(
        "في من إلى على عن مع أن إن كان كانت قد لقد هذا هذه ذلك التي الذي الذين هو هي هم و ثم أو بين كما أيضا أيضاً "
        "قال قالت وقال وقالت حيث بعد قبل عند كل لم لن لا ما ماذا متى أين كيف هل "
        "the a an of in on at to for and or but with by from is are was were be been has have had that this these those "
        "it its he she they his her their as not no did do does which who whom what when where why how said says"
    )
)
SUPPORT_OVERLAP = 0.5  # share of a sentence's content words found in the passage
SUPPORT_SIMILARITY = 0.6  # cosine similarity that counts as "semantically close"
FRAGMENT_WORDS = 4  # an answer this short ("6", "Mary Beth Long") is a claim only together with its question


@dataclass(frozen=True)
class Citation:
    """A passage cited by the answer, with the sentence that supports the claim."""

    n: int
    doc_id: str
    chunk_id: str
    title: str
    date: str | None
    text: str  # the whole chunk
    quote: str  # the supporting sentence
    start: int  # span of quote in text
    end: int
    supported: bool


# A run of markers at the end of a text, the last possibly still being written ("[1", "["), and the stop after it.
_TRAILING_MARKERS = re.compile(r"(?:\s*\[\d{0,3}\]?)+[\s.،,]*$")
# An answer that stops where the answer should be, at a copula, a preposition or the word passage:
# "The paper that revealed the talks is [2].", "Sullivan talked to [1].", "The newspaper reported it from passage [2]."
_POINTING = re.compile(
    r"(?:\b(?:is|are|was|were|to|with|from|by|of|in|on|at|for|about|passages?)"
    r"|(?<!\S)(?:هي|هو|هم|هما|هن|مع|إلى|الى|عن|من|في|على|المقطع|الفقرة|النص)|:)$",
    re.IGNORECASE,
)


def held_back(text: str) -> str:
    """Text without its trailing markers: what a stream may show before it knows whether words follow them."""
    return _TRAILING_MARKERS.sub("", text)


def pointer(text: str) -> list[int]:
    """The passages an answer points at instead of saying what they say ("[1] [2]",
    "الصحيفة التي كشفت المحادثات هي [2]."); empty for an answer that states something."""
    stated = held_back(text)
    if stated == text:
        return []
    if not strip_markers(stated).strip(" .،,:") or _POINTING.search(stated.rstrip(" .،,")):
        return markers(text[len(stated) :])
    return []


# Words that answer a question though they are function words: "No [1]", "لم توافق".
_ANSWERING = frozenset(words("yes no not never نعم لا لم لن ليس ليست"))


def says_nothing(text: str, given: str) -> bool:
    """True when text, markers aside, holds no word that `given` (the question) lacks: an answer
    that repeats the question ("ما الصحيفة التي كشفت المحادثات؟ [1]") or points at passages."""
    asked = set(words(given))
    known = {f for w in asked for f in proclitic_forms(w)} | _STOP
    # "not" answers "Did Burns negotiate?", but only repeats "…saying Burns was not negotiating?"
    return all((w not in _ANSWERING or w in asked) and (proclitic_forms(w) & known or not w.isalnum()) for w in words(strip_markers(text)))


def echoes(text: str, question: str, context: str = "") -> bool:
    """True when text says nothing the question (and the conversation's previous question)
    does not, and repeats at least half of the question's words: the question given back
    ("من هو أول حاكم لامبراطورية منغوليا؟ [1]"), not one of the options it offered ("Ushakov"
    to "Ushakov or Lavrov?")."""
    asked = [w for w in words(question) if w not in _STOP]
    said = {f for w in words(strip_markers(text)) for f in proclitic_forms(w)}
    repeated = sum(1 for w in asked if proclitic_forms(w) & said)
    return says_nothing(text, f"{context} {question}") and repeated >= len(asked) / 2


def strip_markers(text: str) -> str:
    """Answer text without [n] markers."""
    return _MARKER.sub("", text).strip()


def markers(text: str) -> list[int]:
    """The [n] numbers in text, in order of appearance, without repeats."""
    return list(dict.fromkeys(int(m) for m in _MARKER.findall(text)))


def _content(text: str) -> list[str]:
    return [w for w in words(text) if w not in _STOP and len(w) > 1]


def _overlap(claim: str, passage_sentence: str) -> float:
    claim_words = _content(claim)
    if not claim_words:
        return 0.0
    target = normalize(passage_sentence)
    target_words = set(words(passage_sentence))
    hits = sum(1 for w in claim_words if w in target_words or (len(w) > 3 and w in target))
    return hits / len(claim_words)


_THOUSANDS = re.compile(r"(?<=\d)[,٬](?=\d{3}(?!\d))")  # 1,000 is the number 1000
_ENGLISH_NAMES = "|".join(m.capitalize() for m in MONTHS if m.isascii() and (len(m) > 3 or m == "may"))  # not "Jun", a name too
_ARABIC_NAMES = "|".join(sorted((re.escape(m) for m in MONTHS if not m.isascii()), key=len, reverse=True))
_ENGLISH_MONTH = re.compile(rf"\b({_ENGLISH_NAMES})\b")
_ARABIC_MONTH = re.compile(rf"(?<!\w)[وبلف]?({_ARABIC_NAMES})(?!\w)")
_FATHER = normalize("آب")  # August in the Levant, and (folded) أب, "father"


def facts(text: str, claim: bool = False) -> frozenset[str]:
    """The numbers a text states, whole ("20" is not in "2020"), and its months as "month:N"
    (English ones capitalized: "may" is a verb). A claim's آب is not read as a month: folded, it is أب, "father"."""
    folded = normalize(text)
    numbers = _NUMBER.findall(_THOUSANDS.sub("", folded))
    months = {MONTHS[m.lower()] for m in _ENGLISH_MONTH.findall(text)}  # as written: capitals tell the month
    months |= {MONTHS[m] for m in _ARABIC_MONTH.findall(folded) if not (claim and m == _FATHER)}
    return frozenset([*numbers, *(f"month:{n}" for n in months)])


def _facts_present(claim: str, passage_text: str, given: frozenset[str] = frozenset()) -> bool:
    """The claim's numbers and months all occur in the passage, except those in `given` (restated from the question).

    Whole numbers: a model misreading "suspended in March 2020" as "signed on March 20, 2020"
    states a day the passage does not have. Months too: "May 2022" is not "February 2022"."""
    return facts(claim, claim=True) <= facts(passage_text) | given


def _states(fragment: str, sentence: str, arabic_names: Iterable[str]) -> bool:
    """The sentence states what the fragment says: its numbers, and its names or most of its words."""
    if not _facts_present(fragment, sentence):
        return False
    if not _content(fragment):
        return bool(_NUMBER.search(fragment))
    return _names_supported(fragment, sentence, arabic_names) or _overlap(fragment, sentence) >= SUPPORT_OVERLAP


def _with_arabic_names(claim: str, names: dict[str, str]) -> str:
    """The claim with English spellings of names replaced by their Arabic forms (for matching)."""
    for english in sorted(names, key=len, reverse=True):
        claim = re.sub(rf"\b{re.escape(english)}\b", names[english], claim)
    return claim


def _names_supported(claim: str, passage_text: str, arabic_names: Iterable[str]) -> bool:
    """The claim states at least one known name, and every name it states is in the passage."""
    mentioned = [ar for ar in arabic_names if re.search(rf"\b{re.escape(ar)}\b", claim)]
    target = normalize(passage_text)
    return bool(mentioned) and all(all(normalize(w) in target for w in ar.split()) for ar in mentioned)


def name_words(glossary: dict[str, str]) -> dict[str, set[str]]:
    """English names and their single words → the Arabic they spell: {"سيرغي لافروف": "Serge Lavrov"}
    gives "Lavrov" → {"لافروف"}, so a claim naming "Sergei Lavrov" still names لافروف."""
    out: dict[str, set[str]] = {}
    for arabic, english in glossary.items():
        out.setdefault(english, set()).add(arabic)
        pairs = zip(english.split(), arabic.split(), strict=True) if len(english.split()) == len(arabic.split()) > 1 else ()
        for e, a in pairs:
            if len(e) >= 3:
                out.setdefault(e, set()).add(a)
    return out


def absent_names(claim: str, passage_text: str, words_of: dict[str, set[str]]) -> list[str]:
    """English names the claim states whose Arabic form is nowhere in the passage."""
    target = normalize(passage_text)
    absent = []
    for english in sorted(words_of, key=len, reverse=True):
        pattern = rf"\b{re.escape(english)}\b"
        if re.search(pattern, claim):
            claim = re.sub(pattern, " ", claim)  # "Yuri Ushakov" is one name, not also "Ushakov"
            if not any(all(normalize(w) in target for w in ar.split()) for ar in words_of[english]):
                absent.append(english)
    return absent


def best_sentence(claim: str, passage: Passage) -> tuple[int, float]:
    """Index (in chunk.sentences) and overlap of the passage sentence closest to the claim."""
    candidates = passage.sentences or tuple(range(len(passage.chunk.sentences)))
    scored = [(_overlap(claim, passage.chunk.text[s:e]), i) for i in candidates for s, e in [passage.chunk.sentences[i]]]
    overlap, index = max(scored)
    return index, overlap


def build(
    answer: str,
    passages: list[Passage],
    check_text: str | None = None,
    similarity: Callable[[str, list[str]], np.ndarray] | None = None,
    glossary: dict[str, str] | None = None,
    question: str = "",
) -> list[Citation]:
    """Citations for an answer's markers, each verified against its passage.

    check_text is the text verified against the passages when it differs
    from the answer shown (an English answer is checked through its Arabic
    draft); similarity(claim, sentences) gives cosine similarities; glossary
    maps the Arabic names of the passages to English spellings, so an English
    claim can be matched and checked by the names it states.

    A small model often cites the passage next to the one it used. A marker
    whose passage supports none of the sentences citing it, while another
    passage of the prompt supports all of them, is taken to mean that one:
    its citation keeps the marker's number (the answer may be on screen
    already) and carries the supporting passage.

    Numbers and months the question states ("Before the May 2022 call, …") are its
    premise, not the answer's claim: a claim restating them is not held to them.
    (The assistant passes a follow-up together with the question before it.)
    An answer of a few words ("6", "Mary Beth Long") claims something only
    together with its question: it is supported by an evidence sentence of the
    passage (one picked for the question) that states it.
    """
    given = facts(question)
    words_of = name_words(glossary or {})
    names = {en: ar for ar, en in (glossary or {}).items()}
    by_n = {p.n: p for p in passages}
    source = check_text if check_text is not None else answer
    claims: list[tuple[str, str, list[int]]] = []  # (claim as written, with Arabic names, cited)
    for span in split_sentences(source):
        cited = [n for n in markers(span.text) if n in by_n]
        written = strip_markers(span.text)
        if written:
            claims.append((written, _with_arabic_names(written, names), cited))
        elif claims:  # markers after the full stop ("… باتروشيف. [2]") cite the sentence before
            claims[-1][2].extend(n for n in cited if n not in claims[-1][2])
    if claims and not any(c for _, _, c in claims):  # no usable marker: match sentences to passages
        claims = [(w, claim, [max(passages, key=lambda p: best_sentence(claim, p)[1]).n]) for w, claim, _ in claims] if passages else []

    def check(written: str, claim: str, passage: Passage) -> tuple[bool, int, int]:
        """(supported, span of the best supporting sentence in the chunk)"""
        index, overlap = best_sentence(claim, passage)
        start, end = passage.chunk.sentences[index]
        quote = passage.chunk.text[start:end]
        # a name the passage does not state is not supported, however close the rest reads
        named = not absent_names(written, passage.text, words_of)
        supported = named and (overlap >= SUPPORT_OVERLAP or _names_supported(claim, quote, names.values())) and _facts_present(claim, quote, given)
        if not supported and named and similarity is not None:
            sims = similarity(claim, [quote])
            supported = bool(sims.size and float(sims.max()) >= SUPPORT_SIMILARITY and _facts_present(claim, passage.text, given))
        if not supported and named and question and len(written.split()) <= FRAGMENT_WORDS:
            # a fragment answers the question: an evidence sentence (picked for the question) that states it supports it
            for i in passage.sentences:
                s, e = passage.chunk.sentences[i]
                if _states(claim, passage.chunk.text[s:e], names.values()):
                    return True, s, e
        return supported, start, end

    marked = list(dict.fromkeys(n for _, _, cited in claims for n in cited))
    citations: list[Citation] = []
    for n in marked:
        citing = [claims[k][:2] for k, (_, _, cited) in enumerate(claims) if n in cited]
        checks = [check(w, c, by_n[n]) for w, c in citing]
        passage = by_n[n]
        if not any(ok for ok, _, _ in checks):
            for other in passages:  # best ranked first
                trial = [check(w, c, other) for w, c in citing] if other.n != n else []
                if trial and all(ok for ok, _, _ in trial):
                    passage, checks = other, trial
                    break
        supported, start, end = max(checks, key=lambda c: c[0])  # the first supported claim's sentence, if any
        chunk = passage.chunk
        citations.append(Citation(n, chunk.doc_id, chunk.chunk_id, chunk.title, chunk.date, chunk.text, chunk.text[start:end], start, end, supported))
    return sorted(citations, key=lambda c: c.n)


def clean_markers(text: str, valid: set[int]) -> str:
    """Drop [n] markers that point at no passage."""
    return _MARKER.sub(lambda m: m.group(0) if int(m.group(1)) in valid else "", text).strip()

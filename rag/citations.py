"""Turning [n] markers into checked citations.

Markers map back through the same numbering the prompt used; a marker that
points at no passage is dropped. Each cited sentence is checked against its
passage: it is *supported* when the names and numbers it contains occur in
the passage (after Arabic normalization) and enough of its content words do,
or when it is semantically close to a passage sentence. The citation carries
the passage sentence that best supports the claim and its character span in
the chunk, so a UI can highlight it. An answer without markers gets citations
by matching its sentences to the passages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .retrieval import Passage
from .text import normalize, split_sentences, words

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


def _facts_present(claim: str, passage_text: str) -> bool:
    """Numbers of the claim all occur in the passage."""
    target = normalize(passage_text)
    return all(n in target for n in _NUMBER.findall(normalize(claim)))


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
    names: dict[str, str] | None = None,
) -> list[Citation]:
    """Citations for an answer's markers, each verified against its passage.

    check_text is the text verified against the passages when it differs
    from the answer shown (an English answer is checked through its Arabic
    draft); similarity(claim, sentences) gives cosine similarities; names
    maps English spellings to the Arabic names of the passages, so an English
    claim can be matched and checked by the names it states.
    """
    names = names or {}
    by_n = {p.n: p for p in passages}
    source = check_text if check_text is not None else answer
    claims: list[tuple[str, list[int]]] = []
    for span in split_sentences(source):
        cited = [n for n in markers(span.text) if n in by_n]
        claim = _with_arabic_names(strip_markers(span.text), names)
        if claim:
            claims.append((claim, cited))
    if claims and not any(c for _, c in claims):  # no usable marker: match sentences to passages
        claims = [(claim, [max(passages, key=lambda p: best_sentence(claim, p)[1]).n]) for claim, _ in claims] if passages else []
    citations: dict[int, Citation] = {}
    for claim, cited in claims:
        for n in cited:
            passage = by_n[n]
            index, overlap = best_sentence(claim, passage)
            start, end = passage.chunk.sentences[index]
            quote = passage.chunk.text[start:end]
            supported = (overlap >= SUPPORT_OVERLAP or _names_supported(claim, quote, names.values())) and _facts_present(claim, quote)
            if not supported and similarity is not None:
                sims = similarity(claim, [quote])
                supported = bool(sims.size and float(sims.max()) >= SUPPORT_SIMILARITY and _facts_present(claim, passage.text))
            previous = citations.get(n)
            if previous is None or (supported and not previous.supported):
                citations[n] = Citation(n, passage.chunk.doc_id, passage.chunk.chunk_id, passage.chunk.title, passage.chunk.date, passage.chunk.text, quote, start, end, supported)
    return [citations[n] for n in sorted(citations)]


def clean_markers(text: str, valid: set[int]) -> str:
    """Drop [n] markers that point at no passage."""
    return _MARKER.sub(lambda m: m.group(0) if int(m.group(1)) in valid else "", text).strip()

"""The quote: the one sentence an answer is taken from, chosen before the generator runs.

Every sentence of the retrieved chunks is a candidate. The embedding model's
similarity to the question ranks them well on encyclopaedic text and less well
on news, where the subject of a question recurs in many sentences. A small
fitted ranking (`WEIGHTS`, a logistic regression fitted by eval/quotes.py on
dev, ARCD and the shared XQuAD half together) adds what similarity misses:
the chunk's own rank, the sentences around it, the question's words in the
sentence (same script only), and whether the sentence holds what the
question asks for (a date for "when", a number for "how many").
The features are deterministic and cheap: choosing the quote takes no model
call beyond the question's embedding, so the quote is on screen before the
generator starts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import kinds
from .chunking import Chunk
from .retrieval import Hit
from .text import detect_language, month_names, normalize, proclitic_forms, words

# Question types, by the words that open or carry the question.
_TYPES_AR = (
    ("when", r"^(?:و|ف)?(?:متى|منذ متى|في أي (?:عام|سنة|يوم|شهر|تاريخ|وقت|قرن)|في اي (?:عام|سنة|يوم|شهر|تاريخ|وقت|قرن)|ما تاريخ|ما هو تاريخ)"),
    ("duration", r"^(?:و|ف)?(?:كم (?:استمر|استمرت|دام|دامت|من الوقت|يوما|ساعة|شهرا|عاما|سنة)|ما مدة|ما هي مدة|ما المدة)"),
    ("count", r"^(?:و|ف)?(?:كم|ما عدد|ما هو عدد|ما مدى)"),
    ("where", r"^(?:و|ف)?(?:أين|اين|في أي (?:مدينة|بلد|دولة|مكان|منطقة)|في اي (?:مدينة|بلد|دولة|مكان|منطقة)|إلى أين|من أين)"),
    ("who", r"^(?:و|ف)?(?:من|مع من|مَن|لمن|بمن|أي (?:وكالة|صحيفة|شخص))\b"),
    ("why", r"^(?:و|ف)?(?:لماذا|لم|ما سبب|ما السبب)\b"),
    ("how", r"^(?:و|ف)?(?:كيف)\b"),
    ("yesno", r"^(?:و|ف)?(?:هل|أ)\b"),
)
_TYPES_EN = (
    ("when", r"\b(?:when|what (?:year|day|month|date|time|century)|which (?:year|day|month|date|century)|since when|how long ago)\b"),
    ("duration", r"\b(?:how long|for how many (?:days|hours|weeks|months|years)|what (?:length|duration))\b"),
    ("count", r"\b(?:how (?:many|much|old|far|large|big)|what (?:number|percentage|amount))\b"),
    ("where", r"\b(?:where|what (?:city|country|place|region|state)|which (?:city|country|place|region|state))\b"),
    ("who", r"\b(?:who|whom|whose|which (?:person|agency|newspaper|official))\b"),
    ("why", r"\bwhy\b"),
    ("how", r"^\s*how\b"),
    ("yesno", r"^\s*(?:is|are|was|were|did|does|do|has|have|had|can|could|will|would)\b"),
)
TYPES = ("when", "duration", "count", "where", "who", "why", "how", "yesno", "what")
_WEEKDAYS = ("الأحد", "الاثنين", "الإثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت")
_NUMBER_WORDS = ("واحد", "اثنان", "اثنين", "ثلاث", "أربع", "خمس", "ست", "سبع", "ثمان", "تسع", "عشر", "عشرين", "مئة", "مائة", "ألف", "آلاف", "مليون", "ملايين",
                 "مليار", "نصف", "ربع", "ساعة", "ساعات", "يوم", "أيام", "أسبوع", "شهر", "شهرين", "أشهر", "عام", "أعوام", "سنة", "سنوات")
KIND_DEPTH = 8  # the kind of answer a sentence holds is looked for in this many best sentences
_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")
_DIGIT = re.compile(r"\d")


# "Who is Ushakov?", "What is Christianity?" ask what someone or something is (a description), not for a name;
# "Who is the general manager?", "من هو المدير العام؟" name a role and ask who holds it (a name).
_IDENTITY = re.compile(
    r"^(?:و|ف)?(?:من|مَن|مَنْ) (?:هو|هي|هم|هما|يكون|تكون)\s+(?!ال\S+\s+\S)\S+(?:\s+\S+){0,2}\s*[؟?]?$|^who (?:is|was|are|were)\s+(?!the\b)\S+(?:\s+\S+){0,2}\s*\??$"
    r"|^(?:و|ف)?(?:ما|ماذا) (?:هو|هي|هى|هم)\s+(?!اسم|عدد|تاريخ|مدة|المدة|سبب)\S+(?:\s+\S+)?\s*[؟?]?$|^what (?:is|was|are|were) (?!the name|the number|the date)(?:an? |the )?\S+(?:\s+\S+)?\s*\??$",
    re.IGNORECASE)


def is_identity(question: str) -> bool:
    """A question asking who or what someone is ("Who is Ushakov?", "من هو أوشاكوف؟", a bare name)."""
    text = " ".join(question.split())
    return bool(_IDENTITY.match(text)) or (len(text.split()) <= 3 and not re.search(r"[؟?]", text) and detect_language(text) == "ar")


# "Which translation…?", "ما المعاهدة التي…؟", "What report…?": a what or which question naming the
# kind of thing it asks for is answered by a name or a noun phrase, not a clause. Not "ما هو",
# "ما الذي", "what did": those ask for a description or an event.
_WHICH = re.compile(
    r"^(?:و|ف)?(?:(?:إلى|الى|في|من|على|عن|مع|ب|ل)\s*)?(?:أي|أية|أيّ|أيّة|اي|اية)\s+\S"
    r"|^(?:و|ف)?ما\s+(?!هو|هي|هى|هم|الذي|التي|الذين|اسم|إسم|إذا|اذا|لم|كان|كانت|يكون|تكون|يمكن|يجب|يحدث|حدث)\S"
    r"|^(?:in |on |at |of |for |to |by |with |from |under |during )?(?:what|which)\s+(?!(?:is|was|are|were|did|does|do|has|have|had|can|could|would|will|should|might|may"
    r"|caused|happened|made)\b)[a-z]",
    re.IGNORECASE)


def is_which(question: str) -> bool:
    """A what or which question that names the kind of thing it asks for ("Which treaty…?", "ما المعاهدة التي…؟")."""
    text = " ".join(question.split())
    return question_type(text) == "what" and not _IDENTITY.match(text) and bool(_WHICH.search(text))


def question_type(question: str) -> str:
    """What a question asks for: when, duration, count, where, who, why, how, yesno, or what (a description: "Who is Ushakov?" too)."""
    text = " ".join(question.split())
    if _IDENTITY.match(text):
        return "what"
    if detect_language(text) == "ar":
        for name, pattern in _TYPES_AR:
            if re.search(pattern, text):
                return name
        return "what"
    for name, pattern in _TYPES_EN:
        if re.search(pattern, text.lower()):
            return name
    return "what"


@dataclass(frozen=True)
class Holds:
    """What kinds of answer a sentence can give."""

    year: bool
    date: bool  # a month or weekday name, or a year
    number: bool  # digits or a number or duration word


def holds(sentence: str) -> Holds:
    """The kinds of answer a sentence can give (dates, numbers)."""
    folded = normalize(sentence)
    tokens = set(words(sentence))
    months = {normalize(m) for m in month_names()}
    weekdays = {normalize(w) for w in _WEEKDAYS}
    year = bool(_YEAR.search(folded))
    date = year or any(m in folded for m in months if len(m) > 2) or any(f in weekdays for t in tokens for f in proclitic_forms(t))
    number = bool(_DIGIT.search(folded)) or any(f.startswith(normalize(n)) for t in tokens for f in proclitic_forms(t) for n in _NUMBER_WORDS)
    return Holds(year, date, number)


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved chunk, ranked as the quote."""

    chunk: Chunk
    sentence: int  # index into chunk.sentences
    similarity: float  # cosine of the sentence to the query
    score: float  # the ranking's score (higher first)
    features: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def text(self) -> str:
        """The sentence."""
        start, end = self.chunk.sentences[self.sentence]
        return self.chunk.text[start:end]


@dataclass(frozen=True)
class Quote:
    """The sentence an answer is taken from, shown as soon as retrieval is done; with the
    answer, the phrase of it that answers (`phrase_start`, `phrase_end`, offsets in `text`)."""

    n: int  # its passage number: the answer cites it as [n]
    doc_id: str
    chunk_id: str
    title: str
    date: str | None
    text: str  # the sentence
    start: int  # the sentence's span in its chunk's text
    end: int
    score: float  # the ranking's score
    phrase_start: int | None = None
    phrase_end: int | None = None

    @classmethod
    def of(cls, candidate: Candidate, n: int = 1) -> Quote:
        """The quote of a ranked candidate sentence."""
        c = candidate.chunk
        start, end = c.sentences[candidate.sentence]
        return cls(n, c.doc_id, c.chunk_id, c.title, c.date, c.text[start:end], start, end, round(candidate.score, 4))

    @property
    def phrase(self) -> str:
        """The phrase that answers ('' before the answer)."""
        return self.text[self.phrase_start : self.phrase_end] if self.phrase_start is not None else ""

    def to_json(self) -> dict[str, Any]:
        """The quote as a client shows it."""
        return {"n": self.n, "doc_id": self.doc_id, "chunk_id": self.chunk_id, "title": self.title, "date": self.date, "text": self.text,
                "start": self.start, "end": self.end, "score": self.score, "phrase_start": self.phrase_start, "phrase_end": self.phrase_end}


# Fitted by `eval/quotes.py --fit sim,chunk,overlap,kind,no_kind` on the candidates of dev, ARCD (Arabic
# and English) and the shared XQuAD half (both languages): a conditional logit, so only differences
# between one question's candidates count. Held out (fitted without the corpus), P@1 rises from
# similarity's 0.70 to 0.72 on dev, 0.68 to 0.77 on ARCD, 0.71 to 0.72 on XQuAD, and stays 0.68 for XQuAD
# asked in English (docs/evaluation.md). An empty table ranks by similarity alone.
WEIGHTS: dict[str, float] = {"sim": 9.342, "chunk": 9.23, "overlap": 2.785, "kind": 1.163, "no_kind": 0.357}


def _idf(chunks: Iterable[Chunk]) -> dict[str, float]:
    """Inverse document frequency of normalized words over sentences."""
    counts: dict[str, int] = {}
    total = 0
    for c in chunks:
        for s in c.sentence_texts():
            total += 1
            for w in set(words(s)):
                counts[w] = counts.get(w, 0) + 1
    return {w: math.log(1 + total / n) for w, n in counts.items()}


def _stems(text: str) -> set[str]:
    return {f for w in words(text) for f in proclitic_forms(w, 3)}


class QuoteRanker:
    """Ranks the sentences of retrieved chunks as the quote of an answer."""

    def __init__(self, chunks: list[Chunk], weights: dict[str, float] | None = None) -> None:
        self.weights = WEIGHTS if weights is None else weights
        self._idf = _idf(chunks)
        self._default_idf = max(self._idf.values(), default=1.0)

    def rank(self, question: str, sentence_vectors: list[np.ndarray], hits: list[Hit], query_vector: np.ndarray, context: str = "") -> list[Candidate]:
        """Every distinct sentence of the hits, best first; `context` is the earlier question a follow-up
        was joined to (its words count as the question's; the kind asked for is the follow-up's)."""
        qtype = question_type(question)
        same_script = detect_language(question) == detect_language(" ".join(h.chunk.text[:200] for h in hits[:2])) if hits else False
        asked = f"{context} {question}".strip()
        qwords = {w for w in words(asked) if len(w) > 2}
        qweight = sum(self._idf.get(w, self._default_idf) for w in qwords) or 1.0
        raw: list[tuple[Hit, int, float, float, float]] = []  # hit, sentence, similarity, previous, next
        seen: set[str] = set()
        for hit, vectors in zip(hits, sentence_vectors, strict=True):
            sims = vectors @ query_vector if len(vectors) else np.zeros(0)
            for i, s in enumerate(sims):
                start, end = hit.chunk.sentences[i]
                key = hit.chunk.doc_id + "\n" + hit.chunk.text[start:end]
                if key in seen or (hit.chunk.start == 0 and i == 0 and hit.chunk.text[start:end] == hit.chunk.title):
                    continue  # a sentence met before, or the article's title: a headline states no fact to quote
                seen.add(key)
                raw.append((hit, i, float(s), float(sims[i - 1]) if i else 0.0, float(sims[i + 1]) if i + 1 < len(sims) else 0.0))
        if not raw:
            return []
        best = max(r[2] for r in raw)
        order = sorted(range(len(raw)), key=lambda k: -raw[k][2])
        position = {k: p for p, k in enumerate(order)}
        typed = qtype in kinds.KINDS
        out = []
        for k, (hit, i, sim, before, after) in enumerate(raw):
            start, end = hit.chunk.sentences[i]
            text = hit.chunk.text[start:end]
            stems = _stems(text)
            shared = {w for w in qwords if proclitic_forms(w, 3) & stems} if same_script else set()
            h = holds(text)
            f = {
                "sim": sim,
                "gap": best - sim,
                "rank": float(position[k]),
                "top": float(position[k] == 0),
                "chunk": hit.score,
                "chunk_rank": float(hit.rank),
                "context": max(before, after),
                "overlap": sum(self._idf.get(w, self._default_idf) for w in shared) / qweight if same_script else 0.0,
                "novel": float(len(stems - {f for w in qwords for f in proclitic_forms(w, 3)})) if same_script else float(len(stems)),
                "length": float(len(text.split())),
                "when_date": float(qtype == "when" and h.date),
                "when_none": float(qtype == "when" and not h.date),
                "count_number": float(qtype in ("count", "duration") and h.number),
                "count_none": float(qtype in ("count", "duration") and not h.number),
                # a phrase of the kind asked for (a date, a number, a name, a place) that the question does not hold
                "kind": float(typed and position[k] < KIND_DEPTH and bool(kinds.phrases(qtype, text, asked))),
                "no_kind": float(typed and position[k] < KIND_DEPTH and not kinds.phrases(qtype, text, asked)),
                "same_script": float(same_script),
            }
            out.append(Candidate(hit.chunk, i, sim, self.score(f), f))
        return sorted(out, key=lambda c: -c.score)

    def score(self, features: dict[str, float]) -> float:
        """The fitted ranking score of a candidate's features (similarity alone without weights)."""
        if not self.weights:
            return features["sim"]
        return self.weights.get("bias", 0.0) + sum(w * features.get(name, 0.0) for name, w in self.weights.items() if name != "bias")


def candidates_for(settings: Any, embedder: Any, questions: list[Any]) -> list[tuple[Any, list[Candidate]]]:
    """For eval/quotes.py: each question (a `rag eval` entry) with its ranked candidates, retrieved as the assistant retrieves."""
    from . import index as index_mod
    from .conversation import Finder
    from .retrieval import Retriever

    ix = index_mod.open_index(settings)
    finder = Finder(settings, embedder, Retriever(ix, embedder, settings.retrieval_mode))
    ranker = QuoteRanker(ix.chunks)
    out = []
    for q in questions:
        found = finder.find(q.question, q.history)
        vector = embedder.embed_query(found.query) if found.context else found.alone
        cands = ranker.rank(q.question, ix.sentence_vectors_of([h.row for h in found.hits]), found.hits, vector, found.context)
        out.append((q, cands))
    return out

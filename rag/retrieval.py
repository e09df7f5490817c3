"""Finding the passages and the evidence sentences that answer a question.

Dense retrieval ranks chunks by cosine similarity of EmbeddingGemma vectors;
BM25 (and its fusion with dense by reciprocal rank) is here as a baseline and
an option. Lexical matching can only help where the question and the text
share a script: the "script" mode fuses BM25 in for a question written in the
corpus's script (an Arabic question over Arabic articles) and ranks by the
dense vectors alone otherwise (an English question). Evidence
selection then ranks the sentences of the top chunks against the question
with the sentence vectors stored in the index, so the prompt carries only
the few sentences that matter.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .chunking import Chunk
from .embedding import Embedder
from .store import Index
from .text import detect_language, words

MODES = ("dense", "bm25", "hybrid", "script")


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its rank (1-based) and score."""

    rank: int
    row: int
    chunk: Chunk
    score: float


@dataclass(frozen=True)
class Passage:
    """Evidence shown to the model as [n]: chosen sentences of one chunk."""

    n: int
    chunk: Chunk
    sentences: tuple[int, ...]  # indices into chunk.sentences, in text order
    score: float  # best sentence similarity

    @property
    def text(self) -> str:
        """The chosen sentences, joined; an ellipsis marks a gap."""
        parts: list[str] = []
        for i, s in enumerate(self.sentences):
            if i and s != self.sentences[i - 1] + 1:
                parts.append("…")
            start, end = self.chunk.sentences[s]
            parts.append(self.chunk.text[start:end])
        return " ".join(parts)


class BM25:
    """Okapi BM25 over normalized words of the chunks."""

    def __init__(self, texts: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        self._docs = [Counter(words(t)) for t in texts]
        self._lengths = [sum(d.values()) for d in self._docs]
        self._avg = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0
        df = Counter(w for d in self._docs for w in d)
        n = len(self._docs)
        self._idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in df.items()}
        self._k1, self._b = k1, b

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text for the query."""
        terms = words(query)
        out = np.zeros(len(self._docs), dtype=np.float32)
        for i, (doc, length) in enumerate(zip(self._docs, self._lengths, strict=True)):
            norm = self._k1 * (1 - self._b + self._b * length / (self._avg or 1))
            out[i] = sum(self._idf.get(t, 0.0) * doc[t] * (self._k1 + 1) / (doc[t] + norm) for t in terms if t in doc)
        return out


class Retriever:
    """Ranks chunks for a question (dense, bm25 or hybrid) and selects evidence."""

    def __init__(self, index: Index, embedder: Embedder, mode: str = "dense") -> None:
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}")
        self.index = index
        self.embedder = embedder
        self.mode = mode
        self._bm25 = BM25([c.text for c in index.chunks]) if mode != "dense" else None
        self._script = detect_language(" ".join(c.text for c in index.chunks[:50])) if mode == "script" else ""

    def search(self, query: str, k: int, query_vector: np.ndarray | None = None) -> list[Hit]:
        """The k best chunks for query, best first."""
        mode = self.mode
        if mode == "script":
            mode = "hybrid" if detect_language(query) == self._script else "dense"
        if mode == "dense" or self._bm25 is None:
            vector = self.embedder.embed_query(query) if query_vector is None else query_vector
            ranked = self.index.search(vector, k)
        elif mode == "bm25":
            scores = self._bm25.scores(query)
            order = np.argsort(-scores, kind="stable")[:k]
            ranked = [(int(r), float(scores[r])) for r in order]
        else:
            vector = self.embedder.embed_query(query) if query_vector is None else query_vector
            depth = max(k, 20)
            dense = self.index.search(vector, depth)
            scores = self._bm25.scores(query)
            sparse = [int(r) for r in np.argsort(-scores, kind="stable")[:depth]]
            fused: dict[int, float] = {}
            for ranking in ([r for r, _ in dense], sparse):
                for rank, row in enumerate(ranking):
                    fused[row] = fused.get(row, 0.0) + 1.0 / (60 + rank + 1)
            ranked = sorted(fused.items(), key=lambda item: -item[1])[:k]
        return [Hit(rank, row, self.index.chunks[row], score) for rank, (row, score) in enumerate(ranked, 1)]

    def evidence(self, query_vector: np.ndarray, hits: list[Hit], sentences: int, margin: float | None = None) -> list[Passage]:
        """The best `sentences` sentences of the hits, grouped into numbered passages.

        Passages are ordered by their best sentence; a sentence repeated in two
        overlapping chunks counts once. A sentence scoring more than `margin`
        below the best one is left out: it is seldom the answer, and every
        sentence in the prompt costs time and can mislead the model.
        """
        scored: list[tuple[float, int, int]] = []  # (similarity, hit position, sentence index)
        for position, vectors in enumerate(self.index.sentence_vectors_of([hit.row for hit in hits])):
            sims = vectors @ query_vector
            scored.extend((float(s), position, i) for i, s in enumerate(sims))
        scored.sort(key=lambda item: -item[0])
        chosen: dict[int, list[tuple[float, int]]] = {}
        seen: set[str] = set()
        for score, position, i in scored:
            if margin is not None and score < scored[0][0] - margin:
                break
            chunk = hits[position].chunk
            start, end = chunk.sentences[i]
            key = chunk.doc_id + "\n" + chunk.text[start:end]
            if key in seen:
                continue
            seen.add(key)
            chosen.setdefault(position, []).append((score, i))
            if len(seen) == sentences:
                break
        ordered = sorted(chosen.items(), key=lambda item: -max(s for s, _ in item[1]))
        return [
            Passage(n, hits[position].chunk, tuple(sorted(i for _, i in picks)), max(s for s, _ in picks))
            for n, (position, picks) in enumerate(ordered, 1)
        ]


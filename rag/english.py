"""The language work an English question needs before its prompt: the English
spellings of the names in its passages (rag.names) and the focus sentence.

The 1.5B model reads Arabic passages for an English question poorly on two
counts. It spells Arabic-script names badly ("Yorushakov"), so each name in
the passages is followed by its English spelling; a spelling found by sound is
kept only where the embedding model puts the Arabic word and the English word
close (`name_similarity`). And it misses the answer in front of it, while the
embedding model matches an English question to Arabic text far better: the
sentence holding the clause closest to the question is repeated before it
(`focus_sentence`).

Both embed short texts (names, clauses) that come back question after
question; each is embedded once per process and kept (`vectors`).
"""

from __future__ import annotations

import threading

import numpy as np

from . import names, prompting
from .chunking import Chunk
from .embedding import Embedder
from .retrieval import Passage
from .settings import Settings

_TEXT_CACHE = 20_000  # short texts (names, phrases, clauses) whose embeddings are kept before the cache starts over


class EnglishReading:
    """Name spellings and the focus sentence for English questions, with the embeddings they use kept."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.vectors: dict[str, np.ndarray] = {}  # short text → its document embedding
        self._lock = threading.Lock()

    def glossary(self, text: str, hints: list[str]) -> names.Glossary:
        """The names of text with their English spellings, checked by the embedding model unless `name_similarity` is 0."""
        checked = self.settings.name_similarity > 0
        return names.glossary(text, hints, self.name_similarity if checked else None, self.settings.name_similarity, self.settings.phrase_similarity)

    def name_similarity(self, pairs: list[tuple[str, str]]) -> list[float]:
        """How close the embedding model puts each (Arabic, English) pair: a name and its
        English spelling embed close together (أوشاكوف and Ushakov: 0.76); an Arabic
        word and the English word that merely sounds like it do not (يعلن and Ellen:
        0.38)."""
        vectors = self.document_vectors([t for pair in pairs for t in pair])
        return [float(vectors[a] @ vectors[e]) for a, e in pairs]

    def focus(self, query_vector: np.ndarray, passages: list[Passage]) -> tuple[str, int] | None:
        """The sentence holding the clause of the passages closest to the query: (chunk id, sentence index).

        Used for English questions only: on Arabic questions the generator finds
        the answer on its own, and a repeated sentence picked by shared names
        misleads it more than it helps. In a conversation the vector is the new
        question's alone: the previous question steers retrieval, not what the
        answer is about.
        """
        found = prompting.clauses(passages) if self.settings.focus_sentence else []
        if not found:
            return None
        vectors = self.document_vectors([c for _, _, c in found])
        similarities = np.stack([vectors[c] for _, _, c in found]) @ query_vector
        chunk_id, sentence, _ = found[int(np.argmax(similarities))]
        return chunk_id, sentence

    def warm(self, chunk: Chunk) -> None:
        """Embed ahead what an English question about this chunk would embed: its clauses and its names."""
        whole = Passage(0, chunk, tuple(range(len(chunk.sentences))), 0.0)
        if self.settings.focus_sentence:
            self.document_vectors([c for _, _, c in prompting.clauses([whole])])
        if self.settings.name_similarity > 0:  # else no name is embedded
            self.glossary(whole.text, [])

    def document_vectors(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Document embeddings of short texts, each computed once per process.

        The same names and clauses come back question after question, and
        embedding them is most of the work before the prompt (a vector
        computed in another batch differs by about 1e-7)."""
        known = self.vectors
        found = {t: v for t in texts if (v := known.get(t)) is not None}
        new = [t for t in dict.fromkeys(texts) if t not in found]
        if new:
            fresh = dict(zip(new, self.embedder.embed_documents(new), strict=True))
            with self._lock:
                if len(known) + len(fresh) > _TEXT_CACHE:
                    known.clear()
                known.update(fresh)
            found.update(fresh)
        return found

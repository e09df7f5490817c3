"""Sentence-aware chunking.

A chunk is a run of whole sentences whose size, counted with the embedding
model's own tokenizer, stays near a target; neighbouring chunks share a few
sentences so that a fact split across a boundary is whole in one of them.
Each chunk keeps character offsets into the cleaned article text and the
offsets of its sentences, which evidence selection and citations use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from .documents import Document
from .text import split_sentences


@dataclass(frozen=True)
class Chunk:
    """A passage of an article, identified by the hash of its content."""

    chunk_id: str
    doc_id: str
    title: str
    date: str | None
    text: str
    start: int  # offset of text in the cleaned article
    end: int
    sentences: tuple[tuple[int, int], ...]  # sentence spans, relative to text

    def sentence_texts(self) -> list[str]:
        """The chunk's sentences, in order."""
        return [self.text[s:e] for s, e in self.sentences]


def chunk_id(doc_id: str, text: str) -> str:
    """Content hash of a chunk: the same text of the same article gets the same id."""
    return hashlib.sha256(f"{doc_id}\n{text}".encode()).hexdigest()[:20]


def chunk_document(doc: Document, count_tokens: Callable[[str], int], target_tokens: int, overlap: int) -> list[Chunk]:
    """Split a document into chunks of about target_tokens, sharing `overlap` sentences."""
    spans = split_sentences(doc.text)
    sizes = [count_tokens(s.text) for s in spans]
    chunks: list[Chunk] = []
    first = 0
    while first < len(spans):
        last = first
        total = sizes[first]
        while last + 1 < len(spans) and total + sizes[last + 1] <= target_tokens:
            last += 1
            total += sizes[last]
        start, end = spans[first].start, spans[last].end
        text = doc.text[start:end]
        chunks.append(
            Chunk(
                chunk_id=chunk_id(doc.doc_id, text),
                doc_id=doc.doc_id,
                title=doc.title,
                date=doc.date,
                text=text,
                start=start,
                end=end,
                sentences=tuple((s.start - start, s.end - start) for s in spans[first : last + 1]),
            )
        )
        if last + 1 >= len(spans):
            break
        first = max(first + 1, last + 1 - overlap)
    return chunks

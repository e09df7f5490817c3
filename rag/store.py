"""What every index store shares: the `Index` protocol retrieval and the answer
checks use, the build's first half (read, chunk, embed what is new by content
hash), the manifest, and the checks of a build's embedding model.

Two stores implement the protocol: the FAISS folder (rag/index.py) and
PostgreSQL with pgvector (rag/pgindex.py). Both import this module and not
each other; `rag.index.open_index` / `build_index` choose one from settings.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .chunking import Chunk, chunk_document
from .documents import Document, Skipped, load_corpus
from .embedding import Embedder
from .errors import IndexModelMismatch

FORMAT = "rag-index"
FORMAT_VERSION = 1
class Index(Protocol):
    """What retrieval and the answer checks need of an index, whichever store holds it."""

    manifest: dict[str, Any]
    chunks: list[Chunk]

    @property
    def location(self) -> str:
        """Where the live build is (a folder, or a database and build number), for messages."""
        ...

    @property
    def doc_count(self) -> int:
        """Articles in the index."""
        ...

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Row numbers and cosine scores of the k nearest chunks, best first."""
        ...

    def sentence_vectors_of(self, rows: Sequence[int]) -> list[np.ndarray]:
        """For each chunk row, the vectors of its sentences (one row per sentence, in order)."""
        ...

    def sentence_vector(self, text: str) -> np.ndarray | None:
        """The stored vector of a sentence of the corpus, or None for any other text."""
        ...

    def ping(self) -> None:
        """Raise IndexUnavailable when the store cannot answer now (health checks)."""
        ...


def candidates(k: int, total: int) -> int:
    """How many nearest chunks a store fetches to return k: a few more, so that `best` can order ties."""
    return min(total, k + 8)


def best(found: Iterable[tuple[int, float]], k: int) -> list[tuple[int, float]]:
    """The k best (row, score) pairs: by score, ties (equal to 5 decimals) by row.

    Stores compute the same cosine in different arithmetic and break exact
    ties their own way; this order makes both return the same ranking."""
    return sorted(found, key=lambda pair: (-round(pair[1], 5), pair[0]))[:k]


@dataclass(frozen=True)
class BuildReport:
    """What a build did."""

    location: str  # the build folder, or the database and build number
    documents: int
    chunks: int
    embedded: int  # texts embedded now (the rest came from the previous build)
    reused: int
    skipped: list[Skipped]
    seconds: float

    @property
    def path(self) -> Path:
        """The build folder (FAISS store)."""
        return Path(self.location)


def text_key(text: str) -> str:
    """The key a text's vector is kept under between builds."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Embedded:
    """A corpus chunked and embedded, ready for a store to write: the part of a build every store shares."""

    documents: list[Document]
    skipped: list[Skipped]
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentence_texts: list[str]
    sentence_vectors: np.ndarray
    offsets: np.ndarray  # sentence rows of chunk i: offsets[i]..offsets[i+1]
    embedded: int  # texts embedded now
    reused: int  # texts whose vectors came from the previous build


def embed_corpus(
    corpus_dir: Path,
    embedder: Embedder,
    chunk_tokens: int,
    chunk_overlap: int,
    previous: dict[str, np.ndarray],
    progress: bool = False,
    log: Callable[[str], None] = lambda _: None,
) -> Embedded:
    """Read, chunk and embed a corpus; texts whose hash is in `previous` reuse that vector."""
    docs, skipped = load_corpus(corpus_dir)
    chunks = [c for d in docs for c in chunk_document(d, embedder.count_tokens, chunk_tokens, chunk_overlap)]
    cache = dict(previous)
    sentence_texts = [s for c in chunks for s in c.sentence_texts()]
    wanted = [c.text for c in chunks] + sentence_texts
    missing = list(dict.fromkeys(t for t in wanted if text_key(t) not in cache))
    log(f"{len(docs)} articles, {len(chunks)} chunks, {len(sentence_texts)} sentences; embedding {len(missing)} new texts")
    if missing:
        for text, vector in zip(missing, embedder.embed_documents(missing, progress=progress), strict=True):
            cache[text_key(text)] = vector
    return Embedded(
        docs, skipped, chunks,
        np.stack([cache[text_key(c.text)] for c in chunks]).astype(np.float32),
        sentence_texts,
        np.stack([cache[text_key(t)] for t in sentence_texts]).astype(np.float32),
        np.cumsum([0] + [len(c.sentences) for c in chunks]),
        len(missing), len(set(map(text_key, wanted))) - len(missing),
    )


def manifest_for(built: Embedded, embedder: Embedder, embedding_name: str, chunk_tokens: int, chunk_overlap: int, seconds: float, **store: Any) -> dict[str, Any]:
    """The manifest of a build: format, embedding model, chunker, counts and documents, plus what the store adds."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "embedding_model": embedding_name,
        "embedding_model_id": embedder.model_id,
        "embedding_files": embedder.fingerprint(),
        "dimension": int(built.chunk_vectors.shape[1]),
        "chunker": {"target_tokens": chunk_tokens, "overlap_sentences": chunk_overlap},
        "counts": {"documents": len(built.documents), "chunks": len(built.chunks), "sentences": len(built.sentence_texts), "skipped": len(built.skipped)},
        "documents": [{"doc_id": d.doc_id, "title": d.title, "date": d.date} for d in built.documents],
        "skipped": [asdict(s) for s in built.skipped],
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(seconds, 2),
        "versions": {"python": platform.python_version(), **{p: _version(p) for p in ("faiss-cpu", "sentence-transformers", "torch", "numpy")}},
        **store,
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def same_model(manifest: dict[str, Any], embedder: Embedder) -> bool:
    """Whether a build's vectors came from this embedding model (name, weight files and dimension)."""
    m = manifest
    return m.get("embedding_model_id") == embedder.model_id and m.get("embedding_files") == embedder.fingerprint() and m.get("dimension") == embedder.dimension


def check_model(index: Index, embedder: Embedder) -> None:
    """Raise IndexModelMismatch when index vectors came from another model."""
    m = index.manifest
    if not same_model(m, embedder):
        raise IndexModelMismatch(
            f"The index was built with {m.get('embedding_model_id')} ({m.get('dimension')}-d), not {embedder.model_id} ({embedder.dimension}-d); rebuild with: rag index"
        )


def chunk_from(data: dict[str, Any]) -> Chunk:
    """A chunk from its JSON form (as both stores keep it)."""
    data["sentences"] = tuple(tuple(s) for s in data["sentences"])
    return Chunk(**data)

"""The on-disk index: chunks, their vectors, and sentence vectors for
evidence selection, described by a manifest.

Layout of `index_dir`:
    CURRENT                  name of the live build folder (switched with os.replace)
    build-<time>-<rand>/
        chunks.jsonl         one chunk a line
        chunks.faiss         FAISS inner-product index over chunk vectors
        sentences.npy        one vector per chunk sentence, in chunk order
        manifest.json        written last: format, model, hashes of the files above

A build is written in a new folder and fsynced before CURRENT points at it,
so an interrupted build leaves the previous index in use. Loading checks the
format version, each file's SHA-256 and the embedding model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .chunking import Chunk, chunk_document
from .documents import Skipped, load_corpus
from .embedding import Embedder
from .errors import IndexCorrupt, IndexMissing, IndexModelMismatch

FORMAT = "rag-index"
FORMAT_VERSION = 1
FLAT_LIMIT = 50_000  # above this many chunks, an HNSW graph replaces exact search
_DATA_FILES = ("chunks.jsonl", "chunks.faiss", "sentences.npy")


@dataclass
class Index:
    """A loaded index: chunks, their FAISS index and sentence vectors."""

    path: Path
    manifest: dict[str, Any]
    chunks: list[Chunk]
    faiss_index: Any
    sentence_vectors: np.ndarray
    sentence_offsets: np.ndarray  # sentence rows of chunk i: offsets[i]..offsets[i+1]

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Row numbers and cosine scores of the k nearest chunks."""
        k = min(k, len(self.chunks))
        if k <= 0:
            return []
        scores, rows = self.faiss_index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def sentence_rows(self, chunk_row: int) -> range:
        """Rows of sentence_vectors that belong to a chunk."""
        return range(int(self.sentence_offsets[chunk_row]), int(self.sentence_offsets[chunk_row + 1]))

    @functools.cached_property
    def _sentence_row(self) -> dict[str, int]:
        return {text: row for row, text in enumerate(t for c in self.chunks for t in c.sentence_texts())}

    def sentence_vector(self, text: str) -> np.ndarray | None:
        """The stored vector of a sentence of the corpus, or None for any other text."""
        row = self._sentence_row.get(text)
        return None if row is None else self.sentence_vectors[row]

    @property
    def doc_count(self) -> int:
        """Articles in the index."""
        return len({c.doc_id for c in self.chunks})


@dataclass(frozen=True)
class BuildReport:
    """What a build did."""

    path: Path
    documents: int
    chunks: int
    embedded: int  # texts embedded now (the rest came from the previous build)
    reused: int
    skipped: list[Skipped]
    seconds: float


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    embedding_name: str,
    chunk_tokens: int,
    chunk_overlap: int,
    progress: bool = False,
    log: Callable[[str], None] = lambda _: None,
) -> BuildReport:
    """Build the index of a corpus and switch it in atomically; reuses unchanged vectors."""
    started = time.time()
    docs, skipped = load_corpus(corpus_dir)
    chunks = [c for d in docs for c in chunk_document(d, embedder.count_tokens, chunk_tokens, chunk_overlap)]
    cache = _previous_vectors(index_dir, embedder)
    sentence_texts = [s for c in chunks for s in c.sentence_texts()]
    wanted = [c.text for c in chunks] + sentence_texts
    missing = list(dict.fromkeys(t for t in wanted if _text_key(t) not in cache))
    log(f"{len(docs)} articles, {len(chunks)} chunks, {len(sentence_texts)} sentences; embedding {len(missing)} new texts")
    if missing:
        for text, vector in zip(missing, embedder.embed_documents(missing, progress=progress), strict=True):
            cache[_text_key(text)] = vector
    chunk_vectors = np.stack([cache[_text_key(c.text)] for c in chunks]).astype(np.float32)
    sentence_vectors = np.stack([cache[_text_key(t)] for t in sentence_texts]).astype(np.float32)
    offsets = np.cumsum([0] + [len(c.sentences) for c in chunks])

    index_dir.mkdir(parents=True, exist_ok=True)
    folder = index_dir / f"build-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    folder.mkdir()
    with open(folder / "chunks.jsonl", "w", encoding="utf-8") as f:
        for c in chunks:
            f.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
    faiss.write_index(_faiss_index(chunk_vectors), str(folder / "chunks.faiss"))
    np.save(folder / "sentences.npy", sentence_vectors)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "embedding_model": embedding_name,
        "embedding_model_id": embedder.model_id,
        "embedding_files": embedder.fingerprint(),
        "dimension": int(chunk_vectors.shape[1]),
        "faiss_index": "flat" if len(chunks) <= FLAT_LIMIT else "hnsw",
        "chunker": {"target_tokens": chunk_tokens, "overlap_sentences": chunk_overlap},
        "counts": {"documents": len(docs), "chunks": len(chunks), "sentences": len(sentence_texts), "skipped": len(skipped)},
        "documents": [{"doc_id": d.doc_id, "title": d.title, "date": d.date} for d in docs],
        "skipped": [asdict(s) for s in skipped],
        "sentence_offsets": offsets.tolist(),
        "files": {name: _sha256(folder / name) for name in _DATA_FILES},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.time() - started, 2),
        "versions": {"python": platform.python_version(), **{p: _version(p) for p in ("faiss-cpu", "sentence-transformers", "torch", "numpy")}},
    }
    for name in _DATA_FILES:
        _fsync(folder / name)
    _write_atomic(folder / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
    _fsync_dir(folder)
    previous = _current_name(index_dir)
    _write_atomic(index_dir / "CURRENT", folder.name + "\n")
    _fsync_dir(index_dir)
    _remove_old_builds(index_dir, keep={folder.name, previous or ""})
    return BuildReport(folder, len(docs), len(chunks), len(missing), len(set(map(_text_key, wanted))) - len(missing), skipped, time.time() - started)


def _faiss_index(vectors: np.ndarray) -> Any:
    dim = vectors.shape[1]
    index: Any
    if len(vectors) <= FLAT_LIMIT:
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 64
    index.add(vectors)
    return index


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def _previous_vectors(index_dir: Path, embedder: Embedder) -> dict[str, np.ndarray]:
    """Vectors of the live build keyed by text hash, when it used the same model."""
    try:
        old = load(index_dir)
        check_model(old, embedder)
    except (IndexMissing, IndexCorrupt, IndexModelMismatch):
        return {}
    cache: dict[str, np.ndarray] = {}
    vectors = old.faiss_index.reconstruct_n(0, old.faiss_index.ntotal) if old.manifest["faiss_index"] == "flat" else None
    for row, chunk in enumerate(old.chunks):
        if vectors is not None:
            cache[_text_key(chunk.text)] = vectors[row]
        for sentence, srow in zip(chunk.sentence_texts(), old.sentence_rows(row), strict=True):
            cache[_text_key(sentence)] = old.sentence_vectors[srow]
    return cache


def _current_name(index_dir: Path) -> str | None:
    try:
        return (index_dir / "CURRENT").read_text().strip() or None
    except OSError:
        return None


def _remove_old_builds(index_dir: Path, keep: set[str]) -> None:
    for path in index_dir.glob("build-*"):
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def load(index_dir: Path) -> Index:
    """The live index, checked against its manifest; raises IndexMissing/IndexCorrupt."""
    name = _current_name(index_dir)
    if name is None:
        raise IndexMissing(f"No index in {index_dir}; build one with: rag index")
    folder = index_dir / name
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorrupt(f"Index build {folder} has no manifest (incomplete build); rebuild with: rag index") from None
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"Index manifest in {folder} is unreadable ({exc}); rebuild with: rag index") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise IndexCorrupt(f"Index in {folder} has format {manifest.get('format')} v{manifest.get('format_version')}, expected {FORMAT} v{FORMAT_VERSION}; rebuild with: rag index")
    for file, digest in manifest.get("files", {}).items():
        path = folder / file
        if not path.exists() or _sha256(path) != digest:
            raise IndexCorrupt(f"Index file {path} is missing or damaged (SHA-256 mismatch); rebuild with: rag index")
    try:
        with open(folder / "chunks.jsonl", encoding="utf-8") as f:
            chunks = [_chunk(json.loads(line)) for line in f]
        faiss_index = faiss.read_index(str(folder / "chunks.faiss"))
        sentence_vectors = np.load(folder / "sentences.npy")
    except Exception as exc:  # any parse failure of a file whose hash matched is a bug or a bad build
        raise IndexCorrupt(f"Index in {folder} cannot be read ({type(exc).__name__}); rebuild with: rag index") from None
    offsets = np.asarray(manifest["sentence_offsets"], dtype=np.int64)
    if faiss_index.ntotal != len(chunks) or len(offsets) != len(chunks) + 1 or offsets[-1] != len(sentence_vectors):
        raise IndexCorrupt(f"Index in {folder} is inconsistent (counts differ); rebuild with: rag index")
    return Index(folder, manifest, chunks, faiss_index, sentence_vectors, offsets)


def check_model(index: Index, embedder: Embedder) -> None:
    """Raise IndexModelMismatch when index vectors came from another model."""
    m = index.manifest
    if m.get("embedding_model_id") != embedder.model_id or m.get("embedding_files") != embedder.fingerprint() or m.get("dimension") != embedder.dimension:
        raise IndexModelMismatch(
            f"The index was built with {m.get('embedding_model_id')} ({m.get('dimension')}-d), not {embedder.model_id} ({embedder.dimension}-d); rebuild with: rag index"
        )


def _chunk(data: dict[str, Any]) -> Chunk:
    data["sentences"] = tuple(tuple(s) for s in data["sentences"])
    return Chunk(**data)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    if sys.platform != "win32":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

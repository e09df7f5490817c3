"""The index: chunks, their vectors, and sentence vectors for evidence
selection, described by a manifest.

`Index` (rag/store.py) is what retrieval and the answer checks use; two
stores provide it, chosen here by `index_backend` (`open_index`,
`build_index`): the FAISS folder of this module (the default, one process)
and PostgreSQL with pgvector (rag/pgindex.py, shared by replicas). Both take
the build's first half (`embed_corpus`: read, chunk, embed what is new by
content hash) and its manifest (`manifest_for`) from rag/store.py.

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
import math
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .chunking import Chunk
from .embedding import Embedder
from .errors import IndexCorrupt, IndexMissing, IndexModelMismatch
from .settings import Settings
from .store import (  # noqa: F401  (re-exported: the names callers know the index by)
    FORMAT,
    FORMAT_VERSION,
    BuildReport,
    Embedded,
    Index,
    best,
    candidates,
    check_model,
    chunk_from,
    embed_corpus,
    manifest_for,
    same_model,
    text_key,
)

# Above this many chunks, an inverted-file index (IVF) replaces exact search: bench/scale.py measured
# exact search past ~40k chunks above a tenth of the time to embed a question, and IVF (nprobe 32)
# at recall@5 ≥ 0.95 in under a tenth up to 1M chunks, where an HNSW graph lost recall.
FLAT_LIMIT = 40_000
IVF_NPROBE = 32
_DATA_FILES = ("chunks.jsonl", "chunks.faiss", "sentences.npy")


@dataclass
class FaissIndex:
    """A loaded index folder: chunks, their FAISS index and sentence vectors."""

    path: Path
    manifest: dict[str, Any]
    chunks: list[Chunk]
    faiss_index: Any
    sentence_vectors: np.ndarray
    sentence_offsets: np.ndarray  # sentence rows of chunk i: offsets[i]..offsets[i+1]

    @property
    def location(self) -> str:
        """The build folder."""
        return str(self.path)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Row numbers and cosine scores of the k nearest chunks."""
        k = min(k, len(self.chunks))
        if k <= 0:
            return []
        scores, rows = self.faiss_index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), candidates(k, len(self.chunks)))
        return best(((int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0), k)

    def sentence_vectors_of(self, rows: Sequence[int]) -> list[np.ndarray]:
        """For each chunk row, the vectors of its sentences."""
        return [self.sentence_vectors[int(self.sentence_offsets[r]) : int(self.sentence_offsets[r + 1])] for r in rows]

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

    def ping(self) -> None:
        """Nothing to check: the index is in memory."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    """Build the index folder of a corpus and switch it in atomically; reuses unchanged vectors."""
    started = time.time()
    built = embed_corpus(corpus_dir, embedder, chunk_tokens, chunk_overlap, _previous_vectors(index_dir, embedder), progress, log)
    index_dir.mkdir(parents=True, exist_ok=True)
    folder = index_dir / f"build-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    folder.mkdir()
    with open(folder / "chunks.jsonl", "w", encoding="utf-8") as f:
        for c in built.chunks:
            f.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
    faiss.write_index(_faiss_index(built.chunk_vectors), str(folder / "chunks.faiss"))
    np.save(folder / "sentences.npy", built.sentence_vectors)
    manifest = manifest_for(
        built, embedder, embedding_name, chunk_tokens, chunk_overlap, time.time() - started,
        faiss_index="flat" if len(built.chunks) <= FLAT_LIMIT else "ivf",
        sentence_offsets=built.offsets.tolist(),
        files={name: _sha256(folder / name) for name in _DATA_FILES},
    )
    for name in _DATA_FILES:
        _fsync(folder / name)
    _write_atomic(folder / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
    _fsync_dir(folder)
    previous = _current_name(index_dir)
    _write_atomic(index_dir / "CURRENT", folder.name + "\n")
    _fsync_dir(index_dir)
    _remove_old_builds(index_dir, keep={folder.name, previous or ""})
    return BuildReport(str(folder), len(built.documents), len(built.chunks), built.embedded, built.reused, built.skipped, time.time() - started)


def build_index(settings: Settings, embedder: Embedder, progress: bool = False, log: Callable[[str], None] = lambda _: None) -> BuildReport:
    """Build the index the settings name (`index_backend`) from `corpus_dir`."""
    if settings.index_backend == "pgvector":
        from . import pgindex

        return pgindex.build(settings, embedder, progress=progress, log=log)
    return build(settings.corpus_dir, settings.index_dir, embedder, settings.embedding_model, settings.chunk_tokens, settings.chunk_overlap, progress=progress, log=log)


def open_index(settings: Settings) -> Index:
    """The live index the settings name (`index_backend`); raises IndexMissing/IndexCorrupt, or IndexUnavailable for a database that is down."""
    if settings.index_backend == "pgvector":
        from . import pgindex

        return pgindex.load(settings)
    return load(settings.index_dir)


def _faiss_index(vectors: np.ndarray) -> Any:
    """Exact inner-product search up to FLAT_LIMIT chunks; above, IVF with about 4·√n lists (a power of two),
    trained on up to 40 vectors a list, IVF_NPROBE lists searched."""
    n, dim = vectors.shape
    index: Any
    if n <= FLAT_LIMIT:
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = 2 ** round(math.log2(4 * math.sqrt(n)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(n, min(n, 40 * nlist), replace=False)
        index.train(vectors[np.sort(sample)])
        index.nprobe = IVF_NPROBE
    index.add(vectors)
    return index


def _previous_vectors(index_dir: Path, embedder: Embedder) -> dict[str, np.ndarray]:
    """Vectors of the live build keyed by text hash, when it used the same model."""
    try:
        old = load(index_dir)
        check_model(old, embedder)
    except (IndexMissing, IndexCorrupt, IndexModelMismatch):
        return {}
    cache: dict[str, np.ndarray] = {}
    if old.manifest["faiss_index"] == "ivf":
        old.faiss_index.make_direct_map()
    vectors = old.faiss_index.reconstruct_n(0, old.faiss_index.ntotal)
    for row, chunk in enumerate(old.chunks):
        cache[text_key(chunk.text)] = vectors[row]
        for sentence, vector in zip(chunk.sentence_texts(), old.sentence_vectors_of([row])[0], strict=True):
            cache[text_key(sentence)] = vector
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


def load(index_dir: Path) -> FaissIndex:
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
            chunks = [chunk_from(json.loads(line)) for line in f]
        faiss_index = faiss.read_index(str(folder / "chunks.faiss"))
        sentence_vectors = np.load(folder / "sentences.npy")
    except Exception as exc:  # any parse failure of a file whose hash matched is a bug or a bad build
        raise IndexCorrupt(f"Index in {folder} cannot be read ({type(exc).__name__}); rebuild with: rag index") from None
    offsets = np.asarray(manifest["sentence_offsets"], dtype=np.int64)
    if faiss_index.ntotal != len(chunks) or len(offsets) != len(chunks) + 1 or offsets[-1] != len(sentence_vectors):
        raise IndexCorrupt(f"Index in {folder} is inconsistent (counts differ); rebuild with: rag index")
    return FaissIndex(folder, manifest, chunks, faiss_index, sentence_vectors, offsets)


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

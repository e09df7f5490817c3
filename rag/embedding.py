"""Embedding models behind one small protocol.

Two backends run the same verified model. The default, `llama`, runs the
model's GGUF (converted from its sentence-transformers folder by llama.cpp's
own converter, Dense layers included; rag.models) with llama.cpp, already
loaded for the generator: no torch in the process, so a cold start does not
pay for importing it. `sentence-transformers` runs the folder itself. Both
apply the model's own query/document prompts, and their vectors agree (cosine
above 0.9999 on the same texts, the same token counts), so an index built by
one is searched by the other. Vectors are L2-normalized: inner product is
cosine.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from . import models
from .errors import ModelMissing
from .settings import Settings


class Embedder(Protocol):
    """What the index and retriever need from an embedding model."""

    model_id: str
    dimension: int

    def embed_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Normalized float32 vectors, one row per text."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """A normalized float32 vector for a search query."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model's tokenizer makes of text."""
        ...

    def fingerprint(self) -> dict[str, str]:
        """File hashes that identify the exact weights (recorded in the index)."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder."""

    def __init__(self, path: Path, model_id: str, hashes: dict[str, str] | None = None, threads: int = 0) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._tokenizer = self._model.tokenizer
        self.model_id = model_id
        dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(dim() or 0)
        self._hashes = dict(hashes or {})

    def embed_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Normalized vectors with the model's document prompt."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encode = getattr(self._model, "encode_document", self._model.encode)
        vectors = encode(texts, batch_size=8, normalize_embeddings=True, show_progress_bar=progress, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """A normalized vector with the model's query prompt."""
        encode = getattr(self._model, "encode_query", self._model.encode)
        return np.asarray(encode([text], normalize_embeddings=True, convert_to_numpy=True)[0], dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Token count without special tokens."""
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def fingerprint(self) -> dict[str, str]:
        """Pinned hashes of the weight files."""
        return self._hashes


class LlamaEmbedder:
    """A sentence-transformers model's GGUF run by llama.cpp, with the folder's prompts.

    The folder (the model as sentence-transformers holds it) gives the query and
    document prompts and the longest input; the GGUF gives the network, its
    pooling and Dense layers. One llama.cpp context is not safe to share between
    threads, so calls take turns."""

    def __init__(self, gguf: Path, folder: Path, model_id: str, hashes: dict[str, str] | None = None, threads: int = 0) -> None:
        from . import hostcheck

        config = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8"))
        prompts = config.get("prompts", {})
        self._query, self._document = prompts.get("query", ""), prompts.get("document", "")
        longest = int(json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8")).get("max_seq_length", 512))
        # F16 weights have no extra buffer type (those repack quantized weights), so
        # they are off: nothing is lost, and the hosts where they crash are safe.
        self._llm = hostcheck.load_llama(gguf, False, embedding=True, n_ctx=longest, n_batch=longest, n_ubatch=longest,
                                         n_threads=threads or None, n_threads_batch=threads or None, verbose=False)
        self._lock = threading.Lock()
        self.model_id = model_id
        self.dimension = int(self._llm.n_embd())
        self._hashes = dict(hashes or {})

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            return np.asarray(self._llm.embed(texts, normalize=True, truncate=True), dtype=np.float32).reshape(len(texts), self.dimension)

    def embed_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Normalized vectors with the model's document prompt, a few texts at a time."""
        from tqdm import tqdm

        batches = [texts[i : i + 8] for i in range(0, len(texts), 8)]
        parts = [self._embed([self._document + t for t in batch]) for batch in tqdm(batches, desc="embed", disable=not progress)]
        return np.concatenate(parts) if parts else self._embed([])

    def embed_query(self, text: str) -> np.ndarray:
        """A normalized vector with the model's query prompt."""
        return self._embed([self._query + text])[0]

    def count_tokens(self, text: str) -> int:
        """Token count without special tokens (the same as the folder's tokenizer gives)."""
        with self._lock:
            return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def fingerprint(self) -> dict[str, str]:
        """Pinned hashes of the source weights (the GGUF is made from them, so the index is the same)."""
        return self._hashes


def load_embedder(settings: Settings, name: str | None = None) -> Embedder:
    """The verified embedding model named in settings (or name), run by the backend settings name."""
    name = name or settings.embedding_model
    spec = models.spec(name)
    folder = models.ensure(settings, name)
    hashes = {f.path: f.sha256 for f in spec.files if f.path.endswith((".safetensors", ".model", "tokenizer.json"))}
    if settings.embedding_backend == "llama":
        twin = models.twin_gguf(name)
        if not twin:
            raise ModelMissing(f"{name} has no GGUF in the registry; set embedding_backend=sentence-transformers")
        try:
            gguf = models.ensure(settings, twin) / models.spec(twin).main_file
        except ModelMissing as exc:  # made at fetch; where it cannot be made, the folder itself still runs
            raise ModelMissing(f"{exc} (or set embedding_backend=sentence-transformers to run {name}'s folder with torch)") from None
        return LlamaEmbedder(gguf, folder, spec.model_id, hashes, threads=settings.n_threads)
    return SentenceTransformerEmbedder(folder, spec.model_id, hashes, threads=settings.n_threads)

"""Embedding models behind one small protocol.

The default backend runs a sentence-transformers folder from the verified
store and uses the model's own query/document prompts (`encode_query` /
`encode_document`). Vectors are L2-normalized, so inner product is cosine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from . import models
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


def load_embedder(settings: Settings, name: str | None = None) -> SentenceTransformerEmbedder:
    """The verified embedding model named in settings (or name)."""
    name = name or settings.embedding_model
    spec = models.spec(name)
    folder = models.ensure(settings, name)
    hashes = {f.path: f.sha256 for f in spec.files if f.path.endswith((".safetensors", ".model", "tokenizer.json"))}
    return SentenceTransformerEmbedder(folder, spec.model_id, hashes, threads=settings.n_threads)

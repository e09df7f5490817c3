"""Typed errors raised by the library.

Callers (CLI, UI, HTTP API) render these as one clear line; they never match on
the message text. Every error carries a message meant for the end user.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class of every error the library raises on purpose."""


class ModelError(RagError):
    """A model is missing, damaged, or cannot be fetched."""


class ModelMissing(ModelError):
    """A model is not in the store; `rag models fetch` puts it there."""


class ModelCorrupt(ModelError):
    """A model file does not match its pinned SHA-256."""


class FetchFailed(ModelError):
    """No source could provide a model."""


class Unavailable(RagError):
    """A shared service (the index database, the generator server) cannot be reached or timed out; the request may be retried."""

    retry_after = 5.0


class IndexError_(RagError):
    """The index is missing, damaged or built with another model."""


class IndexUnavailable(IndexError_, Unavailable):
    """The index database cannot be reached or timed out."""


class IndexMissing(IndexError_):
    """No index has been built yet."""


class IndexCorrupt(IndexError_):
    """An index file is damaged or does not match its manifest."""


class IndexModelMismatch(IndexError_):
    """The index was built with a different embedding model."""


class CorpusError(RagError):
    """The corpus folder is missing or holds no usable article."""


class QuestionError(RagError):
    """The question cannot be asked (empty, too long, no words)."""


class GenerationError(RagError):
    """The generator failed or timed out."""


class GeneratorUnavailable(GenerationError, Unavailable):
    """The generator server cannot be reached, timed out or went away mid-answer."""


class Busy(Unavailable):
    """Too many questions are waiting; try again shortly."""

    def __init__(self, message: str, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after

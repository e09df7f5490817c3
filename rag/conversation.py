"""A question in its conversation, to the evidence it is answered from.

A follow-up ("And what did he ask him?") says too little to be retrieved on
its own: it is retrieved joined to the previous question, and the prompt
shows that question as "Earlier question". A new question in the same chat
("When did Shoigu and Austin last speak?" after "Who is Kupchan?") finds
closer evidence on its own than joined, and is then answered on its own.
Earlier answers and passages are not replayed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .embedding import Embedder
from .retrieval import Hit, Passage, Retriever
from .settings import Settings
from .text import strip_special_tokens


@dataclass(frozen=True)
class Found:
    """What retrieval found for a question in its conversation."""

    query: str  # the standalone retrieval query
    context: str  # the previous question the query joined ("" for a question answered on its own)
    alone: np.ndarray  # the question's own vector (the focus sentence is chosen by it)
    vector: np.ndarray  # the vector of the query the evidence was chosen by
    hits: list[Hit]
    passages: list[Passage]  # the evidence, best first

    @property
    def best(self) -> float:
        """Similarity of the best evidence sentence to the query (0 without evidence)."""
        return best(self.passages)


class Finder:
    """Retrieval and evidence selection for a question, joined to the previous one when that finds better evidence."""

    def __init__(self, settings: Settings, embedder: Embedder, retriever: Retriever, join: bool = True) -> None:
        self.settings = settings
        self.embedder = embedder
        self.retriever = retriever
        self.join = join  # off: every question is retrieved on its own (the `followup_join` switch, for measuring)

    def find(self, question: str, history: list[dict[str, str]] | None = None) -> Found:
        """The evidence for a question, with the previous question of the history when it is a follow-up."""
        previous = previous_question(history or [], self.settings.max_history_turns) if self.join else ""
        alone = self.embedder.embed_query(question)
        found = Found(question, "", alone, alone, *self._retrieve(question, alone))
        if previous:
            query = f"{previous} {question}"
            vector = self.embedder.embed_query(query)
            joined = Found(query, previous, alone, vector, *self._retrieve(query, vector))
            if joined.best >= found.best:
                return joined
        return found

    def _retrieve(self, query: str, vector: np.ndarray) -> tuple[list[Hit], list[Passage]]:
        hits = self.retriever.search(query, self.settings.top_k, vector)
        return hits, self.retriever.evidence(vector, hits, self.settings.evidence_sentences, self.settings.evidence_margin)


def best(passages: list[Passage]) -> float:
    """Similarity of the best evidence sentence to the question (0 without evidence)."""
    return max((p.score for p in passages), default=0.0)


def previous_question(history: list[dict[str, str]], turns: int) -> str:
    """The last user message of the last `turns` messages of the history, cleaned."""
    recent = history[-turns:] if turns else []
    for message in reversed(recent):
        if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), str):
            return strip_special_tokens(message["content"]).strip()[:500]
    return ""

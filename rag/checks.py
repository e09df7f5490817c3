"""What happens to the model's text: held back while it streams, then checked step by step.

While an answer streams, `AnswerChecks.visible` gives the part that may be
shown: markers at its end wait for what follows them, and so do a refusal
marker being written, a name whose English annotation may follow, and text
that so far only repeats the question; on weak evidence nothing is shown
before the checks. So what streamed is always the start of the final answer.

When the model is done, the named steps of `STEPS` run in order on one
`Checked` state, each small and testable alone:

- `markers`: [n] markers that point at no passage are dropped;
- `names`: an English answer loses the annotations its prompt carried, and a
  spelling heard only from the Arabic shows the Arabic beside it;
- `completion`: an answer that only points at passages ("[1] [2]", "… هي [2].")
  or gives the question back is completed with the sentence of those passages
  (all, when it cites none) closest to the question, quoted and cited;
- `refusal`: the model's refusal marker, or nothing said, is the refusal;
- `citations`: markers become citations, each verified against its passage
  (rag.citations); an answer without markers is cited by matching;
- `withdrawal`: on weak evidence (best sentence below `unsupported_threshold`)
  an answer none of whose citations verifies is most likely invented: the
  refusal replaces it;
- `clickable`: citations found by matching get their markers in the text.

A step named in the `ablate` setting is skipped (for measuring what it adds;
only `completion` is a measured mechanism).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from . import citations as cite
from . import prompting
from .embedding import Embedder
from .retrieval import Passage
from .store import Index

_CLAIM_CACHE = 64  # answer sentences whose embeddings are kept
_PARTIAL_WORD = re.compile(r"\S+$")  # the last word of a streaming text may still grow


@dataclass(frozen=True)
class Checked:
    """An answer on its way through the checks."""

    question: str
    context: str  # the previous question, for a follow-up
    language: str
    passages: list[Passage]  # as numbered in the prompt
    glossary: dict[str, str]  # English questions: the names' spellings the prompt carried
    weak: bool  # the best evidence sentence is below `unsupported_threshold`
    written: str  # what the model wrote, stripped
    text: str = ""  # the answer as it will be shown
    completed: bool = False  # completed with a quoted passage sentence
    citations: list[cite.Citation] = field(default_factory=list)
    refused: bool = False

    @property
    def given(self) -> str:
        """Words an answer must go beyond to say something: the question and the one before it."""
        return f"{self.context} {self.question}"


Step = Callable[["AnswerChecks", Checked], Checked]


def _markers(checks: AnswerChecks, a: Checked) -> Checked:
    written = cite.clean_markers(a.written, {p.n for p in a.passages})
    return replace(a, written=written, text=written)


def _names(checks: AnswerChecks, a: Checked) -> Checked:
    return replace(a, text=prompting.tidy_english(a.text, a.glossary)) if a.language == "en" else a


def _completion(checks: AnswerChecks, a: Checked) -> Checked:
    if prompting.refuses(a.written):
        return a
    pointing = cite.pointer(a.written)
    echo = bool(cite.strip_markers(a.written)) and cite.echoes(a.text, a.question, a.context)
    if not (pointing or echo):
        return a
    cited = pointing or cite.markers(a.text)
    sources = [p for p in a.passages if p.n in cited] or a.passages
    quoted = checks.quoted(cite.held_back(a.text) if pointing else "", a.question, sources, a.glossary if a.language == "en" else None)
    return replace(a, text=quoted or a.text, completed=True)


def _refusal(checks: AnswerChecks, a: Checked) -> Checked:
    nothing = not (a.completed or cite.strip_markers(a.written))
    return replace(a, refused=True) if prompting.refuses(a.written) or nothing else a


def _citations(checks: AnswerChecks, a: Checked) -> Checked:
    # what the model wrote is what is verified (a completed answer: the quote it was given)
    found = cite.build(a.text, a.passages, check_text=a.text if a.completed else a.written, similarity=checks.similarity, glossary=a.glossary, question=a.given)
    return replace(a, citations=found)


def _withdrawal(checks: AnswerChecks, a: Checked) -> Checked:
    return replace(a, refused=True) if a.weak and not any(c.supported for c in a.citations) else a


def _clickable(checks: AnswerChecks, a: Checked) -> Checked:
    if a.citations and not cite.markers(a.text):
        return replace(a, text=a.text.rstrip() + " " + "".join(f"[{c.n}]" for c in a.citations))
    return a


STEPS: tuple[tuple[str, Step], ...] = (
    ("markers", _markers), ("names", _names), ("completion", _completion), ("refusal", _refusal),
    ("citations", _citations), ("withdrawal", _withdrawal), ("clickable", _clickable),
)


class AnswerChecks:
    """The checks of an answer, with the embeddings its citation checks use."""

    def __init__(self, index: Index, embedder: Embedder, off: frozenset[str] = frozenset()) -> None:
        self.index = index
        self.embedder = embedder
        self.off = off  # steps switched off (the `ablate` setting)
        self._claim_vector = functools.lru_cache(maxsize=_CLAIM_CACHE)(embedder.embed_query)  # a claim is checked against several passages

    def run(self, answer: Checked) -> Checked:
        """The steps in order; a refused answer goes no further."""
        for name, step in STEPS:
            if name not in self.off:
                answer = step(self, answer)
                if answer.refused:
                    break
        return answer

    @staticmethod
    def visible(draft: str, weak: bool, glossary: dict[str, str], given: str, english: bool) -> str:
        """The part of a streaming draft that may be shown now (see the module's docstring)."""
        if weak or _maybe_refusal(draft):
            return ""
        plain = draft[: _marker_start(draft)]
        shown = cite.held_back(prompting.stable_english(plain, glossary) if english else plain)
        return "" if cite.says_nothing(_PARTIAL_WORD.sub("", shown), given) else shown

    def quoted(self, stated: str, question: str, sources: list[Passage], glossary: dict[str, str] | None) -> str | None:
        """`stated` completed with the sentence of the sources closest to the question, quoted and cited.

        The small model sometimes takes a passage number for the answer ("[1] [2]", "… هي [2].")
        or repeats the question; the sentence it pointed at, or the best one it was given, is
        then the most useful thing to show. An answer that points keeps its words (they may
        have streamed already); one that only repeats the question is replaced (nothing of it
        streamed)."""
        found = [(p, text) for p in sources for i in p.sentences if (text := prompting.sanitize(p.chunk.text[slice(*p.chunk.sentences[i])]))]
        if not found:
            return None
        p, quote = found[int(np.argmax(self.similarity(question, [t for _, t in found])))]
        return f"{stated} {_quote(quote, p.n, glossary)}".lstrip()

    def similarity(self, claim: str, sentences: list[str]) -> np.ndarray:
        """Cosine similarity of a claim to sentences; a sentence of the corpus uses its stored vector."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        vector = self._claim_vector(claim)
        stored = [self.index.sentence_vector(s) for s in sentences]
        new = [s for s, v in zip(sentences, stored, strict=True) if v is None]
        fresh = iter(self.embedder.embed_documents(new)) if new else iter(())
        return np.stack([v if v is not None else next(fresh) for v in stored]) @ vector


def _maybe_refusal(text: str) -> bool:
    """True while streamed text could still be the start of the refusal marker."""
    stripped = text.strip()
    return not stripped or any(m.startswith(stripped[: len(m)]) for m in prompting.REFUSAL_MARKERS) or prompting.refuses(stripped)


def _marker_start(text: str) -> int | None:
    """Where a refusal marker, whole or still being written ("…\\nNOT_IN_S"), ends the text as a word of its own; None when none does."""
    for marker in prompting.REFUSAL_MARKERS:
        for size in range(len(marker), 0, -1):
            start = len(text) - size
            if text.endswith(marker[:size]) and (start == 0 or not text[start - 1].isalnum()):
                return start
    return None


def _quote(sentence: str, n: int, glossary: dict[str, str] | None) -> str:
    """A passage sentence quoted and cited: “…” with its names spelled in English (glossary given), else «…»."""
    return f"“{prompting.annotate(sentence, glossary)}” [{n}]" if glossary is not None else f"«{sentence}» [{n}]"

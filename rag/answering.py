"""The question-answering pipeline: question → evidence → cited answer.

`Assistant` composes the stages (docs/pipeline.md) and owns the turn lock
and the queue for the generator:

1. the question is checked and its language detected;
2. conversation and retrieval (rag.conversation): a follow-up is joined to
   the previous question; the evidence is the sentences closest to the query,
   numbered as passages; below `refusal_threshold` the articles do not answer,
   and the model is not asked;
3. language work (rag.english): an English question's passages carry the
   names' English spellings and the sentence closest to the question;
4. the prompt (rag.prompting), fitted to the context window;
5. generation, streamed; what may be shown so far is decided by the checks;
6. the checks (rag.checks): markers, names, completion, refusal, citations,
   withdrawal; then the `Answer`.

All generation for one question happens under the generator's lock; a
bounded number of questions may wait for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from . import citations as cite
from . import names, prompting
from .checks import AnswerChecks, Checked
from .conversation import Finder
from .conversation import best as _best
from .embedding import Embedder
from .english import EnglishReading
from .errors import Busy, QuestionError
from .generation import Generator, Message, Usage
from .index import Index
from .retrieval import Hit, Passage, Retriever
from .settings import Settings
from .text import detect_language, strip_special_tokens, words

REFUSALS = {"en": "The articles do not say.", "ar": "لا تذكر المقالات ذلك."}


@dataclass(frozen=True)
class Timings:
    """Where the time of one answer went."""

    retrieve_ms: float
    prompt_tokens: int
    ttft_ms: float
    completion_tokens: int
    total_ms: float


@dataclass(frozen=True)
class Answer:
    """A finished answer with its citations."""

    question: str
    answer: str
    refused: bool
    language: str
    citations: list[cite.Citation]
    timings: Timings
    passages: list[Passage] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    draft: str = ""  # what the model wrote, before checks and completion
    query: str = ""  # the standalone query used for retrieval

    def to_json(self) -> dict[str, Any]:
        """The `rag ask --json` object."""
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "language": self.language,
            "citations": [
                {k: v for k, v in asdict(c).items() if k != "date"} for c in self.citations
            ],
            "timings": asdict(self.timings),
        }


@dataclass(frozen=True)
class Prepared:
    """A question made ready for generation."""

    question: str
    language: str
    context: str  # the previous question, for a follow-up
    query: str  # the standalone retrieval query
    hits: list[Hit]
    passages: list[Passage]  # the evidence, before fitting
    fitted: list[Passage]  # the passages the prompt holds, numbered as in it
    messages: list[Message]
    glossary: dict[str, str]  # Arabic names in the passages → English spellings (English questions)

    @property
    def best(self) -> float:
        """Similarity of the best evidence sentence to the question (0 without evidence)."""
        return _best(self.passages)


@dataclass(frozen=True)
class Token:
    """A piece of answer text, streamed as it is generated."""

    text: str


@dataclass(frozen=True)
class Reading:
    """The passages the model is reading, numbered as in its prompt: streamed when its turn
    comes, before the first token, so a user sees the sources during the seconds the
    prompt takes. An answer given without the model (a refusal) has no Reading."""

    passages: list[Passage]

    @property
    def articles(self) -> list[tuple[str, str | None]]:
        """(title, date) of each article the passages come from, once, in passage order."""
        return list(dict.fromkeys((p.chunk.title, p.chunk.date) for p in self.passages))

    def to_json(self) -> dict[str, Any]:
        """The passages as a client shows them: number, article, title, date."""
        return {"passages": [{"n": p.n, "doc_id": p.chunk.doc_id, "chunk_id": p.chunk.chunk_id, "title": p.chunk.title, "date": p.chunk.date} for p in self.passages]}


class Assistant:
    """Answers questions over an index with an embedder and a generator."""

    def __init__(self, settings: Settings, index: Index, embedder: Embedder, generator: Generator) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.generator = generator
        self._off = frozenset(Settings.split(settings.ablate))  # mechanisms switched off to measure them
        self.retriever = Retriever(index, embedder, settings.retrieval_mode)
        self.finder = Finder(settings, embedder, self.retriever, join="followup_join" not in self._off)
        self.english = EnglishReading(settings, embedder)
        self.checks = AnswerChecks(index, embedder, self._off)
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        self.warming = False  # True while `warm` runs: a busy generator is busy with it, not with a question

    @property
    def queue_length(self) -> int:
        """Questions waiting for the generator."""
        return self._waiting

    def check_question(self, question: str) -> str:
        """The question, cleaned; QuestionError when it cannot be asked."""
        if not isinstance(question, str):
            raise QuestionError("The question must be text.")
        cleaned = strip_special_tokens(question).strip()
        if len(cleaned) > self.settings.max_question_chars:
            raise QuestionError(f"The question is too long ({len(cleaned)} characters; the limit is {self.settings.max_question_chars}).")
        if not cleaned:
            raise QuestionError("The question is empty.")
        if not words(cleaned):
            raise QuestionError("The question has no words.")
        return cleaned

    def admit(self) -> None:
        """Busy when the queue for the generator is full (checked again when the question joins it)."""
        if self._waiting >= self.settings.queue_size:
            raise Busy(f"{self._waiting} questions are already waiting; try again shortly.", retry_after=10.0)

    def warm(self) -> None:
        """Do ahead of the first question what every question starts with: the embedding
        model's first call, and reading each system message an answer opens with.

        The generator keeps a read system message's state (the KV cache of the constant
        prefix), so the first Arabic and the first English question are then as fast as
        later ones. One token is generated from each opening: that goes through the
        Generator protocol, and an OpenAI-compatible server caches the prefix too."""
        self.warming = True
        try:
            self.embedder.embed_query("warm")
            for messages in (prompting.answer_messages("?", []), prompting.answer_messages("?", [], names={})):
                with self._turn():  # in turn with questions, like one (Busy when the queue is full)
                    for _ in self.generator.stream([messages[0], {"role": "user", "content": "?"}], 1):
                        pass
        finally:
            self.warming = False

    def warm_texts(self, pause: float = 0.2) -> int:
        """Embed ahead what an English question embeds before its prompt (rag.english), chunk
        by chunk in index order, until `settings.warm_texts` texts are kept.

        Over the seed articles that is about 420 texts and a minute of CPU, and the first
        English question is then prepared in a quarter of a second instead of four. It runs
        between questions: before each chunk it waits while the generator is busy or a
        question waits for it, so it does not slow an answer down. Returns the texts kept."""
        for chunk in self.index.chunks:
            if len(self.english.vectors) >= self.settings.warm_texts:
                break
            while self.generator.lock.locked() or self._waiting:
                time.sleep(pause)
            self.english.warm(chunk)
        return len(self.english.vectors)

    def ask(self, question: str, history: list[dict[str, str]] | None = None) -> Answer:
        """Answer a question (no streaming)."""
        for event in self.stream(question, history):
            if isinstance(event, Answer):
                return event
        raise AssertionError("stream ended without an answer")

    def stream(self, question: str, history: list[dict[str, str]] | None = None) -> Iterator[Reading | Token | Answer]:
        """The passages the model reads (when it is asked), tokens of the answer as they come, then the finished Answer."""
        started = time.perf_counter()
        p = self.prepare(question, history)
        retrieve_ms = (time.perf_counter() - started) * 1000
        if p.best < self.settings.refusal_threshold:
            text = REFUSALS[p.language]
            yield Token(text)
            total = (time.perf_counter() - started) * 1000
            yield Answer(p.question, text, True, p.language, [], Timings(retrieve_ms, 0, total, 0, total), p.passages, p.hits, "", p.query)
            return
        with self._turn():
            if p.fitted:
                yield Reading(p.fitted)
            yield from self._generate(p, started, retrieve_ms)

    def prepare(self, question: str, history: list[dict[str, str]] | None = None) -> Prepared:
        """Everything before generation: the checked question, its language, retrieval, evidence, the fitted prompt."""
        question = self.check_question(question)
        language = detect_language(question)
        found = self.finder.find(question, history)
        glossary: dict[str, str] = {}
        focus = None
        if language == "en":
            if found.passages and "glossary" not in self._off:
                glossary = self.english.glossary(" ".join(p.text for p in found.passages), [question, found.context])
            focus = self.english.focus(found.alone, found.passages)  # in a conversation, the sentence for the question just asked
        budget = self.generator.n_ctx - self.settings.max_answer_tokens
        fitted, messages = prompting.fit(question, found.passages, found.context, budget, self.generator.prompt_tokens, glossary if language == "en" else None, focus)
        return Prepared(question, language, found.context, found.query, found.hits, found.passages, fitted, messages, glossary)

    def _generate(self, p: Prepared, started: float, retrieve_ms: float) -> Iterator[Token | Answer]:
        if not p.fitted:
            raise QuestionError("The question is too long to answer together with any passage.")
        # On weak evidence an answer that does not verify is withdrawn: nothing is shown before it is checked.
        weak = p.best < self.settings.unsupported_threshold
        given = f"{p.context} {p.question}"
        first: float | None = None
        draft = shown = ""
        usage = Usage(0, 0)
        for piece in self.generator.stream(p.messages, self.settings.max_answer_tokens):
            if isinstance(piece, Usage):
                usage = piece
                continue
            draft += piece
            visible = self.checks.visible(draft, weak, p.glossary, given, p.language == "en")
            if len(visible) > len(shown) and visible.startswith(shown):
                first = first or time.perf_counter()
                yield Token(visible[len(shown) :])
                shown = visible
        checked = self.checks.run(Checked(p.question, p.context, p.language, p.fitted, p.glossary, weak, draft.strip()))
        text = REFUSALS[p.language] if checked.refused else checked.text
        streamed = shown.strip()
        if checked.refused or (text.startswith(streamed) and len(text) > len(streamed)):
            first = first or time.perf_counter()
            yield Token(text if checked.refused else text[len(streamed) :])  # what was held back: the end of an answer, markers added, a checked answer
        now = time.perf_counter()
        timings = Timings(round(retrieve_ms, 1), usage.prompt_tokens, round(((first or now) - started) * 1000, 1), usage.completion_tokens, round((now - started) * 1000, 1))
        citations = [] if checked.refused else checked.citations
        yield Answer(p.question, text, checked.refused, p.language, citations, timings, p.fitted, p.hits, checked.written, p.query)

    class _Turn:
        def __init__(self, assistant: Assistant) -> None:
            self.a = assistant

        def __enter__(self) -> None:
            a = self.a
            with a._waiting_lock:
                a.admit()
                a._waiting += 1
            try:
                acquired = a.generator.lock.acquire(timeout=a.settings.request_timeout)
            finally:
                with a._waiting_lock:
                    a._waiting -= 1
            if not acquired:
                raise Busy("The assistant is busy; the question waited too long.", retry_after=10.0)

        def __exit__(self, *exc: object) -> None:
            self.a.generator.lock.release()

    def _turn(self) -> Assistant._Turn:
        return Assistant._Turn(self)


def load_assistant(settings: Settings, generator: Generator | None = None) -> Assistant:
    """An Assistant over the built index, with the embedding model the index names."""
    from . import index as index_mod
    from .embedding import load_embedder
    from .generation import load_generator

    threading.Thread(target=names.warm, name="names-warm", daemon=True).start()
    index = index_mod.open_index(settings)
    embedder = load_embedder(settings, index.manifest["embedding_model"])
    index_mod.check_model(index, embedder)
    return Assistant(settings, index, embedder, generator or load_generator(settings))

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

import re
import threading
import time
from collections.abc import Generator as Steps
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from . import citations as cite
from . import kinds, names, prompting, refusal, rendering, spans
from .checks import AnswerChecks, Checked
from .conversation import Finder, Found
from .conversation import best as _best
from .embedding import Embedder
from .english import EnglishReading
from .errors import Busy, QuestionError
from .generation import Generator, Message, Usage
from .quoting import Candidate, Quote, QuoteRanker, is_identity, is_which, question_type
from .retrieval import Hit, Passage, Retriever
from .settings import Settings
from .store import Index
from .text import detect_language, strip_special_tokens, words

REFUSALS = {"en": "The articles do not say.", "ar": "لا تذكر المقالات ذلك."}
SPAN_TOKENS = 64  # the longest phrase copied from a quote, in tokens
RENDER_TOKENS = 40  # the longest English rendering of a phrase


@dataclass(frozen=True)
class Timings:
    """Where the time of one answer went."""

    retrieve_ms: float
    prompt_tokens: int
    ttft_ms: float
    completion_tokens: int
    total_ms: float
    quote_ms: float | None = None  # when the quote was ready to show (None: no quote)


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
    quote: Quote | None = None  # the sentence the answer is taken from, its phrase marked; of a refusal, the closest sentence the articles have
    doubt: float | None = None  # the fitted probability that the articles do not answer (rag.refusal; None in the passages design)

    @property
    def thin(self) -> bool:
        """An answer given on evidence as likely not to answer as to answer."""
        return not self.refused and self.doubt is not None and self.doubt >= refusal.THIN

    def to_json(self) -> dict[str, Any]:
        """The `rag ask --json` object."""
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "language": self.language,
            "quote": self.quote.to_json() if self.quote is not None else None,
            "doubt": self.doubt,
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
    candidates: list[Candidate] = field(default_factory=list)  # the sentences of the hits, ranked as the quote
    found: Found | None = field(default=None, compare=False)  # the retrieval, for the check of a doubtful quote answer

    @property
    def quote(self) -> Quote | None:
        """The sentence ranked first, the answer's source (None without candidates)."""
        return Quote.of(self.candidates[0]) if self.candidates else None

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


Event = Quote | Reading | Token | Answer  # what `Assistant.stream` yields


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
        self.quotes = QuoteRanker(index.chunks, None if settings.quote_ranking == "fitted" else {})
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
        if self.settings.answer_step == "quote":
            openings = [spans.messages("?", "?", examples=self.settings.span_examples), spans.messages("?", "?", yesno=True), rendering.messages("?", "?", {})]
            if self.settings.clause_kinds:
                openings.append(spans.messages("?", "?", examples=self.settings.span_examples, clause=True))
            if self.settings.refusal_check < 1.0:  # the check of a doubtful answer asks in the passages design
                openings += [prompting.answer_messages("?", []), prompting.answer_messages("?", [], names={})]
        else:
            openings = [prompting.answer_messages("?", []), prompting.answer_messages("?", [], names={})]
        try:
            self.embedder.embed_query("warm")
            for messages in openings:
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

    def stream(self, question: str, history: list[dict[str, str]] | None = None) -> Iterator[Event]:
        """The quote (the sentence the answer will come from), the passages the model reads (when it
        is asked), tokens of the answer as they come, then the finished Answer."""
        started = time.perf_counter()
        p = self.prepare(question, history)
        retrieve_ms = (time.perf_counter() - started) * 1000
        doubt = refusal.doubt(p.candidates, p.best) if p.candidates else None
        if p.best < self.settings.refusal_threshold or (doubt is not None and self.settings.refusal_doubt < 1.0 and doubt >= self.settings.refusal_doubt):
            yield from self._refuse(p, started, retrieve_ms, doubt)
            return
        quote_ms = None
        if self.settings.answer_step == "quote" and (quote := p.quote) is not None:
            quote_ms = round((time.perf_counter() - started) * 1000, 1)
            yield quote
        with self._turn():
            if self.settings.answer_step == "quote" and doubt is not None and doubt >= self.settings.refusal_check and self._written_refuses(p):
                yield from self._refuse(p, started, retrieve_ms, doubt)
                return
            if p.fitted:
                yield Reading(p.fitted)
            if self.settings.answer_step == "quote":
                yield from (replace(e, doubt=doubt) if isinstance(e, Answer) else e for e in self._from_quote(p, started, retrieve_ms, quote_ms))
            else:
                yield from self._generate(p, started, retrieve_ms)

    def _refuse(self, p: Prepared, started: float, retrieve_ms: float, doubt: float | None) -> Iterator[Token | Answer]:
        """The refusal, with the closest sentence the articles have (for a user to judge it by)."""
        text = REFUSALS[p.language]
        yield Token(text)
        total = (time.perf_counter() - started) * 1000
        yield Answer(p.question, text, True, p.language, [], Timings(retrieve_ms, 0, total, 0, total), p.passages, p.hits, "", p.query, p.quote, doubt)

    def _written_refuses(self, p: Prepared) -> bool:
        """Whether the passages design, asked the same question, refuses it (its answer is not shown).

        A copy under the quote's grammar cannot refuse, while the model writing from the best few
        sentences refuses many questions the articles do not answer, and few they do. Asked only
        where the quote's doubt is high (`refusal_check`), it brought dev's refusals from 0.27 to
        0.50 without a right answer lost there or on ARCD (docs/evaluation.md). Caller holds the turn."""
        if p.found is None:
            return False
        written = self._written(p.question, p.language, p.found)
        if not written.fitted:
            return False
        for event in self._generate(written, time.perf_counter(), 0.0):
            if isinstance(event, Answer):
                return event.refused
        return False

    def prepare(self, question: str, history: list[dict[str, str]] | None = None) -> Prepared:
        """Everything before generation: the checked question, its language, retrieval, evidence, the quote, the fitted prompt."""
        question = self.check_question(question)
        language = detect_language(question)
        found = self.finder.find(question, history)
        if self.settings.answer_step == "quote":
            candidates = self.quotes.rank(question, self.index.sentence_vectors_of([h.row for h in found.hits]), found.hits, found.vector, found.context)
            fitted = [Passage(1, candidates[0].chunk, (candidates[0].sentence,), candidates[0].similarity)] if candidates else []
            messages = spans.messages(question, candidates[0].text, found.context, question_type(question) == "yesno", self.settings.span_examples,
                                      self.clause(question)) if candidates else []
            if messages and self.generator.prompt_tokens(messages) + max(SPAN_TOKENS, self.settings.max_answer_tokens) > self.generator.n_ctx:
                fitted, messages = [], []  # the question leaves no room for the quote: answering it is a clear error
            return Prepared(question, language, found.context, found.query, found.hits, found.passages, fitted, messages, {}, candidates, found)
        return self._written(question, language, found)

    def _written(self, question: str, language: str, found: Found) -> Prepared:
        """The passages design's prompt: the best few evidence sentences, for a written, cited answer."""
        glossary: dict[str, str] = {}
        focus = None
        if language == "en":
            if found.passages and "glossary" not in self._off:
                glossary = self.english.glossary(" ".join(p.text for p in found.passages), [question, found.context])
            focus = self.english.focus(found.alone, found.passages)  # in a conversation, the sentence for the question just asked
        budget = self.generator.n_ctx - self.settings.max_answer_tokens
        fitted, messages = prompting.fit(question, found.passages, found.context, budget, self.generator.prompt_tokens, glossary if language == "en" else None, focus)
        return Prepared(question, language, found.context, found.query, found.hits, found.passages, fitted, messages, glossary, found=found)

    def clause(self, question: str) -> bool:
        """Whether the question is of a kind a clause of the quote answers (`clause_kinds`)."""
        wanted = Settings.split(self.settings.clause_kinds)
        if "identity" in wanted and is_identity(question):
            return True
        return "which" in wanted if is_which(question) else question_type(question) in wanted

    def _from_quote(self, p: Prepared, started: float, retrieve_ms: float, quote_ms: float | None) -> Iterator[Token | Answer]:
        """The answer copied from the quote: the phrase that answers (under the grammar), put into English for an English question."""
        quote = p.quote
        if quote is None or not p.messages:
            raise QuestionError("The question is too long to answer together with any passage.")
        first: float | None = None
        kind = question_type(p.question)
        yesno = kind == "yesno"
        english = p.language == "en" and not yesno
        glossary = names.Glossary()
        if english and "glossary" not in self._off:
            glossary = self.english.glossary(quote.text, [p.question, p.context])
        # what the question holds is no answer: its words, the one before it, and an English question's names as the quote writes them
        held = " ".join([p.question, p.context, rendering.arabic_of(f"{p.question} {p.context}", glossary) if english else ""])
        choices = kinds.phrases(kind, quote.text, held) if kind in Settings.split(self.settings.typed_kinds) else []
        draft = shown = ""
        usage = Usage(0, 0)
        if len(choices) == 1:  # one phrase of the kind asked for: it is the answer, no model needed
            draft = choices[0]
        else:
            avoid = spans.held_words(held) if is_identity(p.question) else frozenset()
            grammar = spans.yes_no_grammar(p.language) if yesno else spans.choice_grammar(choices) if choices else spans.grammar([quote.text], avoid)
            draft, usage, first, shown = yield from self._copy(p.messages, grammar, stream=not english)
        if choices:
            draft = spans.distinct(draft, choices)
        phrase = None if yesno else spans.locate_choices(draft, choices, quote.text) if choices else spans.locate(draft, quote.text)
        text = spans.settled(draft).strip() if yesno or (choices and phrase is not None) else (phrase.text if phrase else "")
        if english and phrase is not None:
            arabic = text
            mode = self.settings.english_answer
            text = (rendering.by_lookup(arabic, glossary) or "") if mode == "lookup" else ""
            if not text:
                rendered = ""
                asked = rendering.direct_messages(p.question, quote.text, glossary) if mode == "direct" else rendering.messages(arabic, quote.text, glossary)
                for piece in self.generator.stream(asked, RENDER_TOKENS):
                    if isinstance(piece, Usage):
                        usage = Usage(usage.prompt_tokens + piece.prompt_tokens, usage.completion_tokens + piece.completion_tokens)
                        continue
                    rendered += piece
                    visible = rendering.tidy(rendered)
                    if "\n" not in rendered.strip() and len(visible) > len(shown) and visible.startswith(shown):
                        first = first or time.perf_counter()
                        yield Token(visible[len(shown) :])
                        shown = visible
                text = rendering.tidy(rendered)
                if not re.search(r"[A-Za-z0-9]", text):  # the model wrote no English: the Arabic phrase, as copied, is the answer
                    text = arabic
        if not text:  # nothing copied: the sentence itself is the answer
            text = quote.text
        if phrase is not None:
            quote = replace(quote, phrase_start=phrase.start, phrase_end=phrase.end)
        answer = f"{text} [{quote.n}]"
        tail = answer[len(shown) :] if answer.startswith(shown) else answer
        if tail:
            first = first or time.perf_counter()
            yield Token(tail)
        now = time.perf_counter()
        timings = Timings(round(retrieve_ms, 1), usage.prompt_tokens, round(((first or now) - started) * 1000, 1), usage.completion_tokens, round((now - started) * 1000, 1), quote_ms)
        chunk = p.fitted[0].chunk
        citation = cite.Citation(quote.n, quote.doc_id, quote.chunk_id, quote.title, quote.date, chunk.text, quote.text, quote.start, quote.end, True)
        yield Answer(p.question, answer, False, p.language, [citation], timings, p.fitted, p.hits, draft, p.query, quote)

    def _copy(self, messages: list[Message], grammar: str, stream: bool) -> Steps[Token, None, tuple[str, Usage, float | None, str]]:
        """One copy under the grammar: the phrase, the tokens it cost, when its first word was shown
        and what was (streamed as it settles when `stream`)."""
        draft = shown = ""
        usage = Usage(0, 0)
        first: float | None = None
        for piece in self.generator.stream(messages, SPAN_TOKENS, grammar):
            if isinstance(piece, Usage):
                usage = piece
                continue
            draft += piece
            visible = spans.settled(draft)
            if stream and len(visible) > len(shown):
                first = first or time.perf_counter()
                yield Token(visible[len(shown) :])
                shown = visible
        return draft, usage, first, shown

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


def load_assistant(settings: Settings, generator: Generator | None = None, warm_names: bool = True) -> Assistant:
    """An Assistant over the built index, with the embedding model the index names.

    `warm_names` loads the English word lists and place names in the background (about 2 s of
    CPU), for a process that will answer many questions; a one-question command leaves them to
    the first question that needs them, since on 2 cores they slow an Arabic answer's
    first token several fold (bench/coldstart.py). The two models load one after the other
    (0.6 s and 0.9 s there; side by side they took longer when the embedding model ran on torch)."""
    from . import index as index_mod
    from .embedding import load_embedder
    from .generation import load_generator

    if warm_names:
        threading.Thread(target=names.warm, name="names-warm", daemon=True).start()
    index = index_mod.open_index(settings)
    embedder = load_embedder(settings, index.manifest["embedding_model"])
    index_mod.check_model(index, embedder)
    generator = generator or load_generator(settings)
    return Assistant(settings, index, embedder, generator)

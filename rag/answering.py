"""The question-answering pipeline: question → evidence → cited answer.

1. The question is checked (empty, too long, no words) and its language
   detected; a follow-up is made standalone for retrieval by joining it to
   the previous user question.
2. Dense retrieval finds the chunks, evidence selection the few sentences
   that matter. Below the refusal threshold the assistant says the articles
   do not answer, without calling the model.
3. The model answers from the numbered passages, with [n] markers, in the
   question's language. For an English question the names in the passages
   carry their English spelling (names.py), and the sentence closest to the
   question is repeated before it.
4. Markers become citations, each verified against its passage. An answer
   that only points at passages ("[1] [2]", "… هي [2].") or repeats the
   question is completed with the quoted sentence of those passages (or of
   all, when it cites none) closest to the question. On weak evidence, an
   answer none of whose citations verifies is withdrawn.

All generation for one question happens under the generator's lock; a
bounded number of questions may wait for it.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import citations as cite
from . import names, prompting
from .embedding import Embedder
from .errors import Busy, QuestionError
from .generation import Generator, Message, Usage
from .index import Index
from .retrieval import Hit, Passage, Retriever
from .settings import Settings
from .text import detect_language, strip_special_tokens, words

_CLAIM_CACHE = 64  # answer sentences whose embeddings are kept
_TEXT_CACHE = 20_000  # short texts (names, phrases, clauses) whose embeddings are kept before the cache starts over
_PARTIAL_WORD = re.compile(r"\S+$")  # the last word of a streaming text may still grow
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
        self.retriever = Retriever(index, embedder, settings.retrieval_mode)
        self._off = frozenset(Settings.split(settings.ablate))  # mechanisms switched off to measure them
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        self.warming = False  # True while `warm` runs: a busy generator is busy with it, not with a question
        self._text_vectors: dict[str, np.ndarray] = {}
        self._text_vectors_lock = threading.Lock()
        self._claim_vector = functools.lru_cache(maxsize=_CLAIM_CACHE)(embedder.embed_query)  # a claim is checked against several passages

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
        """Embed ahead what an English question embeds before its prompt: the clauses of the
        indexed chunks (for the focus sentence) and their names with their English spellings
        (for the glossary), chunk by chunk in index order, until `settings.warm_texts` texts are kept.

        Over the seed articles that is about 420 texts and a minute of CPU, and the first
        English question is then prepared in a quarter of a second instead of four. It runs
        between questions: before each chunk it waits while the generator is busy or a
        question waits for it, so it does not slow an answer down. Returns the texts kept."""
        limit = self.settings.warm_texts
        for chunk in self.index.chunks:
            if len(self._text_vectors) >= limit:
                break
            while self.generator.lock.locked() or self._waiting:
                time.sleep(pause)
            whole = Passage(0, chunk, tuple(range(len(chunk.sentences))), 0.0)
            if self.settings.focus_sentence:
                self._document_vectors([c for _, _, c in prompting.clauses([whole])])
            if self.settings.name_similarity > 0:  # else no name is embedded
                self._glossary(whole.text, [])
        return len(self._text_vectors)

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
        context = _previous_question(history or [], self.settings.max_history_turns) if "followup_join" not in self._off else ""
        alone = self.embedder.embed_query(question)
        query, vector, hits, passages = self._retrieve(question, alone)
        if context:
            # A follow-up ("And what did he ask him?") finds its evidence through the previous question;
            # a new question in the same chat finds better evidence on its own, and the old one would only blur it.
            joined = self._retrieve(f"{context} {question}")
            if _best(joined[3]) >= _best(passages):
                query, vector, hits, passages = joined
            else:
                context = ""
        glossary = {}
        if language == "en" and passages and "glossary" not in self._off:
            glossary = self._glossary(" ".join(p.text for p in passages), [question, context])
        focus = None
        if language == "en":  # in a conversation, the sentence for the question just asked
            focus = self._focus(alone, passages)
        budget = self.generator.n_ctx - self.settings.max_answer_tokens
        fitted, messages = prompting.fit(question, passages, context, budget, self.generator.prompt_tokens, glossary if language == "en" else None, focus)
        return Prepared(question, language, context, query, hits, passages, fitted, messages, glossary)

    def _retrieve(self, query: str, vector: np.ndarray | None = None) -> tuple[str, np.ndarray, list[Hit], list[Passage]]:
        """(query, its vector, the hits, the evidence) for a retrieval query."""
        vector = self.embedder.embed_query(query) if vector is None else vector
        hits = self.retriever.search(query, self.settings.top_k, vector)
        return query, vector, hits, self.retriever.evidence(vector, hits, self.settings.evidence_sentences, self.settings.evidence_margin)

    def _glossary(self, text: str, hints: list[str]) -> dict[str, str]:
        """The names of text with their English spellings, checked by the embedding model unless `name_similarity` is 0."""
        checked = self.settings.name_similarity > 0
        return names.glossary(text, hints, self._name_similarity if checked else None, self.settings.name_similarity, self.settings.phrase_similarity)

    def _name_similarity(self, pairs: list[tuple[str, str]]) -> list[float]:
        """How close the embedding model puts each (Arabic, English) pair: a name and its
        English spelling embed close together (أوشاكوف and Ushakov: 0.76); an Arabic
        word and the English word that merely sounds like it do not (يعلن and Ellen:
        0.38)."""
        vectors = self._document_vectors([t for pair in pairs for t in pair])
        return [float(vectors[a] @ vectors[e]) for a, e in pairs]

    def _document_vectors(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Document embeddings of short texts, each computed once per process.

        The same names and clauses come back question after question, and
        embedding them is most of the work before the prompt (a vector
        computed in another batch differs by about 1e-7)."""
        known = self._text_vectors
        found = {t: v for t in texts if (v := known.get(t)) is not None}
        new = [t for t in dict.fromkeys(texts) if t not in found]
        if new:
            fresh = dict(zip(new, self.embedder.embed_documents(new), strict=True))
            with self._text_vectors_lock:
                if len(known) + len(fresh) > _TEXT_CACHE:
                    known.clear()
                known.update(fresh)
            found.update(fresh)
        return found

    def _focus(self, query_vector: np.ndarray, passages: list[Passage]) -> tuple[str, int] | None:
        """The sentence holding the clause of the passages closest to the query: (chunk id, sentence index).

        Used for English questions only: the embedding model matches an English
        question to Arabic text far better than the generator does, while on
        Arabic questions the generator finds the answer on its own and a
        repeated sentence picked by shared names misleads it more than it helps.
        In a conversation the vector is the new question's alone: the previous
        question steers retrieval, not what the answer is about.
        """
        found = prompting.clauses(passages) if self.settings.focus_sentence else []
        if not found:
            return None
        vectors = self._document_vectors([c for _, _, c in found])
        similarities = np.stack([vectors[c] for _, _, c in found]) @ query_vector
        chunk_id, sentence, _ = found[int(np.argmax(similarities))]
        return chunk_id, sentence

    def _generate(self, p: Prepared, started: float, retrieve_ms: float) -> Iterator[Token | Answer]:
        gen = self.generator
        question, language, hits, query, glossary = p.question, p.language, p.hits, p.query, p.glossary
        passages, messages = p.fitted, p.messages
        if not passages:
            raise QuestionError("The question is too long to answer together with any passage.")
        first: float | None = None
        # On weak evidence an answer that does not verify is withdrawn (below): nothing is shown before it is checked.
        weak = p.best < self.settings.unsupported_threshold
        tidy = language == "en"  # English drafts carry the glossary's annotations: shown without them
        draft = ""
        shown = ""
        given = f"{p.context} {question}"  # words an answer must go beyond to say something
        usage = Usage(0, 0)
        for piece in gen.stream(messages, self.settings.max_answer_tokens):
            if isinstance(piece, Usage):
                usage = piece
                continue
            draft += piece
            if not weak and not _maybe_refusal(draft):
                # markers at the end wait for what follows them: words, or the end of an answer that only points (below)
                plain = draft[: _marker_start(draft)]  # and so does what may be the refusal marker, begun after other text
                visible = cite.held_back(prompting.stable_english(plain, glossary) if tidy else plain)
                # and so does text whose whole words only repeat the question: it may turn out to be all there is (below)
                if len(visible) > len(shown) and visible.startswith(shown) and not cite.says_nothing(_PARTIAL_WORD.sub("", visible), given):
                    if first is None:
                        first = time.perf_counter()
                    yield Token(visible[len(shown) :])
                    shown = visible
        draft = draft.strip()
        valid = {x.n for x in passages}
        cleaned = cite.clean_markers(draft, valid)
        answer = prompting.tidy_english(cleaned, glossary) if tidy else cleaned  # the answer as shown, before any completion
        pointing = cite.pointer(cleaned)
        echo = bool(cite.strip_markers(cleaned)) and cite.echoes(answer, question, p.context)
        complete = bool(pointing or echo) and "completion" not in self._off
        if prompting.refuses(draft) or not (complete or cite.strip_markers(draft)):
            yield from self._refuse(p, started, retrieve_ms, first, usage, cleaned)
            return
        if complete:
            cited = pointing or cite.markers(answer)
            sources = [x for x in passages if x.n in cited] or passages
            answer = self._quoted(cite.held_back(answer) if pointing else "", question, sources, glossary if tidy else None) or answer
        # what the model wrote is what is verified (a completed answer: the quote it was given)
        citations = cite.build(answer, passages, check_text=answer if complete else cleaned, similarity=self._similarity, glossary=glossary, question=given)
        if weak and not any(c.supported for c in citations):
            # weak evidence and nothing in the answer verifies against it: most likely invented
            yield from self._refuse(p, started, retrieve_ms, first, usage, cleaned)
            return
        if citations and not cite.markers(answer):  # cited by matching: show the markers so they can be clicked
            answer = answer.rstrip() + " " + "".join(f"[{c.n}]" for c in citations)
        streamed = shown.strip()
        if answer.startswith(streamed) and len(answer) > len(streamed):
            if first is None:
                first = time.perf_counter()
            yield Token(answer[len(streamed) :])  # what was held back: the end of an English answer, markers added, a checked answer
        yield self._finish(question, answer, False, language, citations, started, retrieve_ms, first, usage, passages, hits, cleaned, query)

    def _refuse(self, p: Prepared, started: float, retrieve_ms: float, first: float | None, usage: Usage, draft: str) -> Iterator[Token | Answer]:
        """The refusal, after the model was asked: nothing it wrote was shown (streaming holds back a refusal and an unchecked answer)."""
        text = REFUSALS[p.language]
        first = first or time.perf_counter()
        yield Token(text)
        yield self._finish(p.question, text, True, p.language, [], started, retrieve_ms, first, usage, p.fitted, p.hits, draft, p.query)

    def _quoted(self, stated: str, question: str, sources: list[Passage], glossary: dict[str, str] | None) -> str | None:
        """`stated` completed with the sentence of the sources closest to the question, quoted and cited.

        The small model sometimes takes a passage number for the answer ("[1] [2]", "… هي [2].")
        or repeats the question; the sentence it pointed at, or the best one it was given, is
        then the most useful thing to show. An answer that points keeps its words (they may
        have streamed already); one that only repeats the question is replaced (nothing of it
        streamed)."""
        found = [(p, text) for p in sources for i in p.sentences if (text := prompting.sanitize(p.chunk.text[slice(*p.chunk.sentences[i])]))]
        if not found:
            return None
        p, quote = found[int(np.argmax(self._similarity(question, [t for _, t in found])))]
        return f"{stated} {_quote(quote, p.n, glossary)}".lstrip()

    def _finish(self, question: str, text: str, refused: bool, language: str, citations: list[cite.Citation], started: float, retrieve_ms: float, first: float | None, usage: Usage, passages: list[Passage], hits: list[Hit], draft: str, query: str) -> Answer:
        now = time.perf_counter()
        timings = Timings(round(retrieve_ms, 1), usage.prompt_tokens, round(((first or now) - started) * 1000, 1), usage.completion_tokens, round((now - started) * 1000, 1))
        return Answer(question, text, refused, language, citations, timings, passages, hits, draft, query)

    def _similarity(self, claim: str, sentences: list[str]) -> np.ndarray:
        """Cosine similarity of a claim to sentences; a sentence of the corpus uses its stored vector."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        vector = self._claim_vector(claim)
        stored = [self.index.sentence_vector(s) for s in sentences]
        new = [s for s, v in zip(sentences, stored, strict=True) if v is None]
        fresh = iter(self.embedder.embed_documents(new)) if new else iter(())
        return np.stack([v if v is not None else next(fresh) for v in stored]) @ vector

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


def _maybe_refusal(text: str) -> bool:
    """True while streamed text could still be the start of the refusal marker."""
    stripped = text.strip()
    return not stripped or any(m.startswith(stripped[: len(m)]) for m in prompting.REFUSAL_MARKERS) or prompting.refuses(stripped)


def _marker_start(text: str) -> int | None:
    """Where a refusal marker, whole or still being written ("…\nNOT_IN_S"), ends the text as a word of its own; None when none does."""
    for marker in prompting.REFUSAL_MARKERS:
        for size in range(len(marker), 0, -1):
            start = len(text) - size
            if text.endswith(marker[:size]) and (start == 0 or not text[start - 1].isalnum()):
                return start
    return None


def _best(passages: list[Passage]) -> float:
    """Similarity of the best evidence sentence to the question (0 without evidence)."""
    return max((p.score for p in passages), default=0.0)


def _quote(sentence: str, n: int, glossary: dict[str, str] | None) -> str:
    """A passage sentence quoted and cited: “…” with its names spelled in English (glossary given), else «…»."""
    return f"“{prompting.annotate(sentence, glossary)}” [{n}]" if glossary is not None else f"«{sentence}» [{n}]"


def _previous_question(history: list[dict[str, str]], turns: int) -> str:
    """The last user message of the history, cleaned (used to make follow-ups standalone)."""
    recent = history[-turns:] if turns else []
    for message in reversed(recent):
        if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), str):
            return strip_special_tokens(message["content"]).strip()[:500]
    return ""


def load_assistant(settings: Settings, generator: Generator | None = None) -> Assistant:
    """An Assistant over the built index, with the embedding model the index names."""
    from . import index as index_mod
    from .embedding import load_embedder
    from .generation import load_generator

    threading.Thread(target=names.warm, name="names-warm", daemon=True).start()
    index = index_mod.load(settings.index_dir)
    embedder = load_embedder(settings, index.manifest["embedding_model"])
    index_mod.check_model(index, embedder)
    return Assistant(settings, index, embedder, generator or load_generator(settings))

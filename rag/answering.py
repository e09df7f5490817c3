"""The question-answering pipeline: question → evidence → cited answer.

1. The question is checked (empty, too long, no words) and its language
   detected; a follow-up is made standalone for retrieval by joining it to
   the previous user question.
2. Dense retrieval finds the chunks, evidence selection the few sentences
   that matter. Below the refusal threshold, or when the question names a
   country no retrieved chunk mentions, the assistant says the articles do
   not answer, without calling the model.
3. The model answers from the numbered passages, with [n] markers, in the
   question's language. For an English question the names in the passages
   carry their English spelling (names.py), and the sentence closest to the
   question is repeated before it; one asking yes or no is answered with what
   the passages state, opening with "According to the articles,". A bare yes
   or no (نعم، لا،) opening an answer to a yes/no question in either language is
   the model agreeing, not reading: the closest sentence is quoted instead.
   (english_mode="translate" instead answers
   in Arabic and then puts that answer into English with the names glossary.)
4. Markers become citations, each verified against its passage. An answer
   that only points at passages ("[1] [2]", "… هي [2].") or repeats the
   question is completed with the quoted sentence of those passages (or of
   all, when it cites none) closest to the question.

All generation for one question happens under the generator's lock; a
bounded number of questions may wait for it.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterator
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
from .text import detect_language, normalize, split_sentences, strip_special_tokens, words

_NAMED_CHUNKS = 3  # chunks added to the hits for what the question names, when its meaning matched too little
_NAMED_QUOTES = 2  # sentences quoted for it, from different passages
_NAMED_LEAD = {"en": "What the articles say:", "ar": "ما ورد في المقالات:"}
# Words of a question that asks only who or what something is ("Who is Kupchan?", "ما هي كوميرسانت؟")
_IDENTITY = frozenset(words("who what is are was were the a an tell me about know do does say says articles من ما هو هي هم ماذا عن"))
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
    draft: str = ""  # the Arabic answer an English one was made from
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
    direct: bool  # answered in the question's language in one pass (else: Arabic, then translated)
    unmentioned: list[str] = field(default_factory=list)  # countries the question names that no retrieved passage mentions
    named: frozenset[str] = frozenset()  # words of the articles naming what a "who/what is X?" question (or a bare name) asks about

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
    prompt takes. An answer given without the model (a refusal, the sentences naming
    someone) has no Reading."""

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
            english = prompting.answer_messages("?", [], names={}) if self.settings.english_mode == "direct" else prompting.translation_messages("?", {})
            for messages in (prompting.answer_messages("?", []), english):
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
        text, citations = self._naming(p) if p.named and not p.unmentioned else ("", [])
        if citations:  # none when no passage fits beside the question: it is then too long, as for any question
            yield Token(text)
            total = (time.perf_counter() - started) * 1000
            yield Answer(p.question, text, False, p.language, citations, Timings(retrieve_ms, 0, total, 0, total), p.fitted, p.hits, "", p.query)
            return
        if p.best < self.settings.refusal_threshold or p.unmentioned:
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
        named = self.retriever.named(question)
        if named and "naming" not in self._off and _asks_what_it_is(question, named, self.retriever.named):
            # "Who is Kupchan?", "Ushakov": so short a question reads far from every sentence, even the ones
            # naming it (a bare name finds sentences about others), so the sentences naming it come first,
            # and they are the answer (`_naming`): asked who someone is, the model guesses at the role
            # ("Jake Sullivan was a U.S. ambassador to Russia"; "سوليفان هو مساعد السياسة الخارجية لبوتين").
            hits = self.retriever.naming(named, hits, vector, _NAMED_CHUNKS)
            passages = self.retriever.evidence(vector, hits, self.settings.evidence_sentences, self.settings.evidence_margin, named)
        else:
            named = set()
        direct = language == "ar" or self.settings.english_mode == "direct"
        glossary = {}
        if language == "en" and passages and "glossary" not in self._off:
            glossary = self._glossary(" ".join(p.text for p in passages), [question, context])
        focus = None
        if language == "en":  # in a conversation, the sentence for the question just asked
            focus = self._focus(alone, passages)
        budget = self.generator.n_ctx - self.settings.max_answer_tokens
        fitted, messages = prompting.fit(question, passages, context, budget, self.generator.prompt_tokens, glossary if language == "en" and direct else None, focus,
                                         "yes_no" not in self._off)
        unmentioned = _unmentioned(question, hits) if self.settings.country_check else []
        return Prepared(question, language, context, query, hits, passages, fitted, messages, glossary, direct, unmentioned, frozenset(named))

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
        question, language, hits, query, glossary, direct = p.question, p.language, p.hits, p.query, p.glossary, p.direct
        passages, messages = p.fitted, p.messages
        if not passages:
            raise QuestionError("The question is too long to answer together with any passage.")
        first: float | None = None
        # On weak evidence an answer that does not verify is withdrawn (below): nothing is shown before it is checked.
        weak = p.best < self.settings.unsupported_threshold
        stream_draft = direct and not weak
        tidy = direct and language == "en"  # English drafts carry the glossary's annotations: shown without them
        opening = messages[-1]["content"] if messages[-1]["role"] == "assistant" else ""  # the answer's start, given in the prompt
        yes_no = direct and prompting.asks_yes_no(question) and "yes_no" not in self._off
        off = self._off
        without_filler = _without_filler if "filler" not in off else (lambda text: text)
        draft = opening
        shown = ""
        given = f"{p.context} {question}"  # words an answer must go beyond to say something
        stated = " ".join([given, *(x.text for x in passages)])  # what a year in the answer must come from
        usage = Usage(0, 0)
        pieces = gen.stream(messages, self.settings.max_answer_tokens)
        for piece in pieces:
            if isinstance(piece, Usage):
                usage = piece
                continue
            draft += " " + piece if draft == opening and opening and not piece[:1].isspace() else piece
            said = draft[len(opening) :]  # what the model wrote after the opening
            loop = _loop_start(said, _LOOP_REPEATS, _LOOP_CHARS) if "loop_stop" not in off else None
            if loop is not None:
                # the model is stuck repeating itself ("3000000000…"): stop it, and keep only the sentences before
                if close := getattr(pieces, "close", None):
                    close()
                usage = Usage(gen.prompt_tokens(messages), gen.count_tokens(said))
                draft = opening + _before_sentence(said, loop)
                break
            if stream_draft and not _maybe_refusal(said) and not ("filler" not in off and _maybe_filler(draft)) and not (yes_no and _maybe_verdict(said)):
                # markers at the end wait for what follows them: words, or the end of an answer that only points (below)
                # and so does a run that repeats itself: it may be the start of a loop (above)
                plain = without_filler(draft)
                plain = plain[: _loop_start(plain, 3, 3)]
                plain = plain[: _marker_start(plain)]  # and so does what may be the refusal marker, begun after other text
                visible = cite.settled_years(cite.held_back(prompting.stable_english(plain, glossary) if tidy else plain), stated)
                # and so does text whose whole words only repeat the question: it may turn out to be all there is (below)
                if len(visible) > len(shown) and visible.startswith(shown) and not cite.says_nothing(_PARTIAL_WORD.sub("", visible), given):
                    if first is None:
                        first = time.perf_counter()
                    yield Token(visible[len(shown) :])
                    shown = visible
        draft = without_filler(draft).strip()
        said = draft[len(opening) :]
        valid = {x.n for x in passages}
        cleaned = cite.clean_markers(draft, valid)
        readable = prompting.tidy_english(cleaned, glossary) if tidy else cleaned  # the answer as shown, before any completion
        pointing = cite.pointer(cleaned)
        echo = bool(cite.strip_markers(cleaned)) and cite.echoes(readable, question, p.context)
        # a bare yes or no from the small model is it agreeing with the question, not reading the passages
        # ("…, yes, Russia used nuclear weapons", "نعم، بادر الجانب الروسي"): the passages' closest sentence is shown instead
        echo = echo or (yes_no and bool(_VERDICT.match(said)))
        complete = direct and bool(pointing or echo) and "completion" not in off
        if prompting.refuses(draft) or not (complete or cite.strip_markers(said)):
            text = REFUSALS[language]
            if first is None:
                first = time.perf_counter()
            yield Token(text)
            yield self._finish(question, text, True, language, [], started, retrieve_ms, first, usage, passages, hits, draft, query)
            return
        draft = cleaned  # what the model wrote is what is verified: a year it made up still counts against it
        if direct:
            answer = cite.drop_unstated_years(readable, stated) if "drop_years" not in off else readable
            if complete:
                cited = pointing or cite.markers(answer)
                sources = [x for x in passages if x.n in cited] or passages
                answer = self._quoted(cite.held_back(answer) if pointing else "", question, sources, glossary if tidy else None) or answer
        else:
            glossary = names.glossary(cite.strip_markers(draft), [question, p.context])
            parts: list[str] = []
            for piece in gen.stream(prompting.translation_messages(draft, glossary), self.settings.max_answer_tokens):
                if isinstance(piece, Usage):
                    usage = Usage(usage.prompt_tokens + piece.prompt_tokens, usage.completion_tokens + piece.completion_tokens)
                    continue
                if first is None:
                    first = time.perf_counter()
                parts.append(piece)
                yield Token(piece)
            answer = cite.drop_unstated_years(cite.clean_markers("".join(parts).strip(), valid), stated)
            if not cite.markers(answer) and cite.markers(draft):
                answer = answer + " " + "".join(f"[{n}]" for n in cite.markers(draft))
        citations = cite.build(answer, passages, check_text=answer if complete else draft, similarity=self._similarity, glossary=glossary, question=given)
        if weak and not any(c.supported for c in citations):
            # weak evidence and nothing in the answer verifies against it: most likely invented
            text = REFUSALS[language]
            yield Token(text)
            yield self._finish(question, text, True, language, [], started, retrieve_ms, first or time.perf_counter(), usage, passages, hits, draft, query)
            return
        if citations and not cite.markers(answer):  # cited by matching: show the markers so they can be clicked
            answer = answer.rstrip() + " " + "".join(f"[{c.n}]" for c in citations)
        streamed = shown.strip()
        if direct and answer.startswith(streamed) and len(answer) > len(streamed):
            if first is None:
                first = time.perf_counter()
            yield Token(answer[len(streamed) :])  # what was held back: the end of an English answer, markers added, a checked answer
        yield self._finish(question, answer, False, language, citations, started, retrieve_ms, first, usage, passages, hits, draft, query)

    def _naming(self, p: Prepared) -> tuple[str, list[cite.Citation]]:
        """What the articles say of what a "who/what is X?" question names: the sentences naming it, quoted and cited.

        Asked who someone is, the model guesses at the role (Kupchan "a British
        diplomat"; غيراسيموف's رئيس أركان read as "president"; Sullivan "a U.S.
        ambassador to Russia"); the sentences themselves, an article's first
        mention (which says who it is) first, are the answer the articles give.
        """
        quotes: list[str] = []
        citations: list[cite.Citation] = []
        for x in p.fitted:
            for i in x.sentences:
                start, end = x.chunk.sentences[i]
                sentence = x.chunk.text[start:end]
                if p.named & names.words_of(sentence):
                    shown = prompting.sanitize(sentence)
                    quotes.append(_quote(shown, x.n, p.glossary if p.language == "en" else None))
                    c = x.chunk
                    citations.append(cite.Citation(x.n, c.doc_id, c.chunk_id, c.title, c.date, c.text, sentence, start, end, True))
                    break
            if len(quotes) == _NAMED_QUOTES:
                break
        return f"{_NAMED_LEAD[p.language]} {' '.join(quotes)}", citations

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


# yes or no opening an answer; لا only before punctuation ("لا، …"), since "لا يتفاوض" states something
_VERDICT = re.compile(r"\s*(?:(?:yes|no|نعم)(?!\w)|(?:لا|كلا)\s*[،,.!؛])", re.IGNORECASE)
_FIRST_WORD = re.compile(r"\s*[^\W\d_]*")


def _maybe_verdict(text: str) -> bool:
    """True while an answer (after its opening) could still be a bare yes or no: its first word is unfinished, or is one."""
    word = _FIRST_WORD.match(text)
    return word is None or word.end() == len(text) or bool(_VERDICT.match(text) or re.fullmatch(r"\s*(?:لا|كلا)\s*", text))


# A courtesy opening the answer ("بالطبع،" "Of course,"): it says nothing, and before a fact it reads as condescension
_FILLERS = ("بالطبع", "طبعا", "طبعاً", "بالتأكيد", "of course", "sure", "certainly")
_FILLER = re.compile(rf"\s*(?:{'|'.join(_FILLERS)})\s*[،,:!]\s*", re.IGNORECASE)


def _without_filler(text: str) -> str:
    """The answer without a courtesy word opening it."""
    return text[m.end() :] if (m := _FILLER.match(text)) else text


def _maybe_filler(text: str) -> bool:
    """True while streamed text could still be a courtesy word opening the answer (its punctuation not yet written)."""
    stripped = text.strip().casefold()
    return bool(stripped) and not _FILLER.match(text) and any(f.startswith(stripped) for f in _FILLERS)


_LOOP_REPEATS = 6  # a piece of text repeated this often at the end of an answer, over
_LOOP_CHARS = 24  # at least this many characters, is the model stuck in a loop (no number has 24 zeros)
_LOOP_TAIL = 200  # characters searched for it
_REPEATED = re.compile(r"(.{1,12}?)\1+$", re.DOTALL)
_LEADING_MARKERS = re.compile(r"(?:\s*\[\d{1,3}\])*")


def _loop_start(text: str, repeats: int, chars: int) -> int | None:
    """Where a run ending `text` begins in which one piece (up to 12 characters) repeats at least `repeats`
    times over at least `chars` characters ("3000000…", "، و، و، و"); None without one."""
    offset = max(0, len(text) - _LOOP_TAIL)
    match = _REPEATED.search(text, offset)
    if match is None:
        return None
    run = len(text) - match.start()
    return match.start() if run >= chars and run >= repeats * len(match.group(1)) else None


def _before_sentence(text: str, end: int) -> str:
    """The sentences of text before the one reaching past `end`, with the markers after them citing
    them: the sentence a loop began in is dropped."""
    start = next((span.start for span in split_sentences(text) if span.end > end), len(text))
    markers = _LEADING_MARKERS.match(text, start)  # always matches, if only nothing
    return text[: markers.end() if markers else start].strip()


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


def _unmentioned(question: str, hits: list[Hit]) -> list[str]:
    """Countries the question names that none of the retrieved chunks (text or title) mentions.

    Asked "What did Sullivan tell the Chinese foreign minister?" over articles
    that never mention China, the model answers from the Sullivan passages
    anyway, and the similarity of those passages does not tell this question
    from one they answer. On ARCD (702 questions, 139 naming a country) every
    country a question names is in its article.
    """
    named = names.countries_named(question)
    text = normalize(" ".join(f"{h.chunk.title} {h.chunk.text}" for h in hits)) if named else ""
    return [english for english, stem in named.items() if stem not in text and english.casefold() not in text]


def _best(passages: list[Passage]) -> float:
    """Similarity of the best evidence sentence to the question (0 without evidence)."""
    return max((p.score for p in passages), default=0.0)


def _quote(sentence: str, n: int, glossary: dict[str, str] | None) -> str:
    """A passage sentence quoted and cited: “…” with its names spelled in English (glossary given), else «…»."""
    return f"“{prompting.annotate(sentence, glossary)}” [{n}]" if glossary is not None else f"«{sentence}» [{n}]"


def _asks_what_it_is(question: str, named: set[str], mentions: Callable[[str], set[str]]) -> bool:
    """True when every word of the question is a name or asks who or what ("Who is Thomas Graham?", "Ushakov"):
    a capitalized word inside it, one opening it that `mentions` finds in the articles, or an Arabic word of
    `named` (with or without a clitic)."""
    for m in re.finditer(r"\w+", question):
        word = m.group()
        inside = bool(question[: m.start()].strip())
        if normalize(word) in _IDENTITY or (word[:1].isupper() and word.isascii() and (inside or mentions(word))):
            continue
        bare = names.words_of(word)
        if not bare or not (bare & named or {w[1:] for w in bare} & named):
            return False
    return True


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

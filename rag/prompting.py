"""Prompts for the generator, kept small because prompt tokens are the
latency budget (~40 tokens/s on two cores).

The system message is constant, so llama.cpp reuses its KV cache from one
question to the next; everything that changes comes after it.
`answer_messages` holds the numbered evidence passages and the question. The
model answers in the question's language; for an English question each name
in the passages carries its English spelling (see names.py) and the sentence
closest to the question is repeated before it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from .generation import Message
from .retrieval import Passage
from .text import split_sentences, strip_special_tokens

NOT_FOUND = "NOT_IN_SOURCES"
REFUSAL_MARKERS = (NOT_FOUND, "NO_IN_SOURCES")  # the model's way of writing it, one letter short included
_REFUSAL = re.compile(r"\bNOT?_IN_SOURCES?\b")


def refuses(text: str) -> bool:
    """True when the model's text holds the refusal marker."""
    return bool(_REFUSAL.search(text))

PASSAGE_CHAR_LIMIT = 1200  # a passage longer than this is cut (runaway sentences)

# Text in an article addressed to an assistant rather than to readers: kept out
# of prompts (the passage shown to the user keeps it), so a planted article
# cannot give the model orders.
_PLANTED = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,30}\b(instructions?|prompts?|rules|directions)\b"
    r"|\b(system prompt|you must (always|now|only)|reply only with|(the|an?) (ai )?assistant must)\b"
    r"|(تجاهل|انس|تناس)[َُِ]?\s.{0,20}(التعليمات|الأوامر|التوجيهات)|تعليمات\s+(لل|إلى\s+ال)(مساعد|نموذج|ذكاء)",
    re.IGNORECASE | re.DOTALL,
)
# Links and images: the answer must not carry addresses an article planted.
_LINK = re.compile(r"!?\[([^\]]{0,200})\]\([^)\s]{1,2000}\)|\b(?:https?://|www\.)\S+", re.IGNORECASE)

ANSWER_SYSTEM = f"""You answer questions about news articles using only the numbered passages.
Rules:
- Use only facts stated in the passages.
- State the answer itself in words; a passage number alone is not an answer.
- After each sentence, write the number of the passage it comes from, like [1].
- Answer in Arabic, in one or two short sentences.
- If the passages do not answer the question, reply only: {NOT_FOUND}"""

ENGLISH_SYSTEM = f"""You answer questions about news articles using only the numbered passages.
Names in the passages are followed by their English spelling in parentheses.
Rules:
- Use only facts stated in the passages. Write names in their English spelling.
- State the answer itself in words; a passage number alone is not an answer.
- After each sentence, write the number of the passage it comes from, like [1].
- Answer in English, in one or two short sentences.
- If the passages do not answer the question, reply only: {NOT_FOUND}"""


def annotate(text: str, names: dict[str, str]) -> str:
    """Text with each Arabic name followed by its English spelling: يوري أوشاكوف (Yuri Ushakov)."""
    for arabic in sorted(names, key=len, reverse=True):
        text = re.sub(rf"(?<![\w]){re.escape(arabic)}(?![\w(])(?! \()", f"{arabic} ({names[arabic]})", text)
    return text


_ECHO = re.compile(r"\b([A-Z][\w'.-]*(?: [A-Z][\w'.-]*){0,3}) \(\1\)")
_TRAILING_ARABIC = re.compile(r"[\u0600-\u06ff\s]+$")


def tidy_english(text: str, glossary: dict[str, str]) -> str:
    """An English answer without the annotations the prompt carried: "أوشاكوف (Ushakov)"
    and "Ushakov (Ushakov)" become "Ushakov". A spelling heard only from the Arabic's
    sound (`names.Glossary.heard`) shows the Arabic beside its first use, "Ushakov
    (أوشاكوف)", so that a reader can tell a guessed spelling from a known one."""
    heard: dict[str, str] = getattr(glossary, "heard", {})
    pairs = [*glossary.items(), *((arabic, english) for english, arabic in heard.items())]  # a run's words too: أوشاكوف (Ushakov)
    for arabic, english in sorted(pairs, key=lambda pair: len(pair[0]), reverse=True):
        text = text.replace(f"{arabic} ({english})", english)
    return show_heard(_ECHO.sub(r"\1", text), heard)


def show_heard(text: str, heard: dict[str, str]) -> str:
    """Text with the Arabic after the first use of each heard spelling (longest first: a run
    annotated whole leaves its words alone)."""
    done: list[tuple[int, int]] = []
    inserts: list[tuple[int, str]] = []
    for english in sorted(heard, key=len, reverse=True):
        m = re.search(rf"(?<![\w-]){re.escape(english)}(?![\w-])", text)
        if m is None or any(a <= m.start() < b for a, b in done):
            continue
        if not text[m.end() :].startswith(f" ({heard[english]})"):
            inserts.append((m.end(), f" ({heard[english]})"))
        done.append((m.start(), m.end()))
    for at, piece in sorted(inserts, reverse=True):
        text = text[:at] + piece + text[at:]
    return text


def stable_english(draft: str, glossary: dict[str, str]) -> str:
    """The tidied part of a streaming English draft that later tokens cannot change:
    it stops before an unclosed "(", before trailing Arabic (a name the next "(" may annotate),
    and, where spellings were heard, before a last word that may still grow and before the start
    of a heard name run ("Yuri" of "Yuri Ushakov": shown with its Arabic once the run is whole)."""
    cut = draft.rfind("(") if draft.rfind("(") > draft.rfind(")") else len(draft)
    text = _TRAILING_ARABIC.sub("", draft[:cut])
    heard = getattr(glossary, "heard", {})
    if heard:
        text = re.sub(r"[\w'-]+$", "", text)
        for run in (h for h in heard if " " in h):
            parts = run.split()
            for k in range(len(parts) - 1, 0, -1):
                start = len(text.rstrip()) - len(" ".join(parts[:k]))
                if text.rstrip().endswith(" ".join(parts[:k])) and (start == 0 or not text[start - 1].isalnum()):
                    text = text[:start]
                    break
    return tidy_english(text, glossary)


def sanitize(text: str) -> str:
    """Passage text fit for a prompt: no model control tokens, no sentences
    addressed to an assistant, links reduced to their label."""
    text = _LINK.sub(lambda m: m.group(1) or "", strip_special_tokens(text))
    return " ".join(s.text for s in split_sentences(text) if not _PLANTED.search(s.text))


def format_passage(p: Passage, names: dict[str, str] | None = None) -> str:
    """One numbered passage line: [n] text (names annotated when given)."""
    text = sanitize(p.text)
    if names:
        text = annotate(text, names)
    if len(text) > PASSAGE_CHAR_LIMIT:
        text = text[:PASSAGE_CHAR_LIMIT].rsplit(" ", 1)[0] + " …"
    return f"[{p.n}] {text}"


_CLAUSE_BREAK = re.compile(r"[،,؛;:«»\"“”()]")
CLAUSE_MIN_WORDS = 3


def clauses(passages: list[Passage]) -> list[tuple[str, int, str]]:
    """The clauses (text between punctuation) of the passages' sentences, each with its chunk id and sentence index."""
    found = []
    for p in passages:
        for i in p.sentences:
            start, end = p.chunk.sentences[i]
            for clause in _CLAUSE_BREAK.split(sanitize(p.chunk.text[start:end])):
                if len(clause.split()) >= CLAUSE_MIN_WORDS:
                    found.append((p.chunk.chunk_id, i, clause.strip()))
    return found


def answer_messages(question: str, passages: list[Passage], context: str = "", names: dict[str, str] | None = None, focus: tuple[str, int] | None = None) -> list[Message]:
    """Messages asking for a cited answer: in Arabic, or (names given) in English with the names annotated.

    `focus` (chunk id, sentence index) is the sentence closest to the question;
    it is repeated just before the question. The embedding model matches an
    English question to Arabic text far better than the small generator does,
    and a whole sentence keeps coordinated answers together ("X, and also Y").
    """
    system = ANSWER_SYSTEM if names is None else ENGLISH_SYSTEM
    lines = ["Passages:", *(format_passage(p, names) for p in passages), ""]
    for p in passages:
        if focus and p.chunk.chunk_id == focus[0] and focus[1] in p.sentences:
            lines.append("Most relevant: " + format_passage(replace(p, sentences=(focus[1],)), names))
            break
    if context:
        lines.append(f"Earlier question: {strip_special_tokens(context)}")
    lines.append(f"Question: {strip_special_tokens(question)}")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]


def fit(
    question: str,
    passages: list[Passage],
    context: str,
    budget: int,
    count: Callable[[list[Message]], int],
    names: dict[str, str] | None = None,
    focus: tuple[str, int] | None = None,
) -> tuple[list[Passage], list[Message]]:
    """Drop the lowest-ranked passages until the prompt fits in `budget` tokens.

    Passages are renumbered 1..k after dropping, so [n] always refers to the
    prompt the model saw.
    """
    kept = list(passages)
    while True:
        numbered = [replace(p, n=i) for i, p in enumerate(kept, 1)]
        messages = answer_messages(question, numbered, context, names, focus)
        if count(messages) <= budget or not kept:
            return numbered, messages
        kept.pop()

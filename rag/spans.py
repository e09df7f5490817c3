"""The short answer: the phrase of the quote that answers, copied by the generator
under a grammar.

A 1.5B model copies a phrase from one sentence well and chooses among many
passages badly, so it is given one sentence (the quote, rag.quoting) and
asked for the shortest phrase of it that answers. A llama.cpp grammar
(GBNF) allows only runs of the sentence's own words, so whatever it writes is
in the sentence: it cannot invent a word, and the phrase can be highlighted
where it stands. The grammar is one rule per word: the run that starts at
word i is word i, then optionally the run that starts at word i+1 or one
closing punctuation mark (a model that wants to end with "." would otherwise
be pushed into writing the next word).

English questions ask for the Arabic phrase the same way (the sentence's
names carry their English spellings so the question's names can be matched),
and the phrase is then put into English (rag.rendering).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .generation import Message
from .text import PUNCTUATION, normalize, strip_special_tokens

MAX_WORDS = 24  # the longest run the grammar's words may make before generation stops (max tokens)
EDGE = " \t\n" + PUNCTUATION + "-–—"  # what a phrase's edges lose: a word's, and spaces and dashes

SPAN_SYSTEM = (
    "Copy from the sentence the shortest phrase that answers the question. "
    "Write only that phrase, exactly as it appears in the sentence."
)
# Worked examples for the copy prompt, on a topic no question set covers. They sit in the system message,
# whose state is kept, so they cost no time per question; the grammar keeps their words out of answers.
EXAMPLES = """

Examples:
Sentence: افتتح وزير الزراعة معرض التمور السنوي في مدينة الأحساء يوم الخميس بمشاركة 40 عارضاً من ست دول.
Question: أين افتتح الوزير معرض التمور؟
Phrase: مدينة الأحساء
Question: How many exhibitors took part?
Phrase: 40
Sentence: وقالت الهيئة إن المعرض أُجّل العام الماضي بسبب ارتفاع درجات الحرارة.
Question: لماذا أُجّل المعرض؟
Phrase: ارتفاع درجات الحرارة"""
# Why, how and what-is questions are answered by a clause, not a word: "the shortest phrase" cut them short.
CLAUSE_SYSTEM = (
    "Copy from the sentence the part that answers the question, as a whole phrase or clause. "
    "Write only that part, exactly as it appears in the sentence."
)
CLAUSE_EXAMPLES = """

Examples:
Sentence: افتتح وزير الزراعة معرض التمور السنوي في مدينة الأحساء يوم الخميس بمشاركة 40 عارضاً من ست دول.
Question: ماذا افتتح وزير الزراعة في الأحساء؟
Part: معرض التمور السنوي
Question: What did the minister open?
Part: معرض التمور السنوي
Sentence: وقالت الهيئة إن المعرض أُجّل العام الماضي بسبب ارتفاع درجات الحرارة، ثم نُقل إلى قاعة مكيّفة.
Question: لماذا أُجّل المعرض؟
Part: ارتفاع درجات الحرارة
Question: What happened to the fair after it was postponed?
Part: نُقل إلى قاعة مكيّفة"""
YES_NO_SYSTEM = "Answer the question from the sentence with one word: yes or no."
YES_NO = {"ar": ("نعم", "لا"), "en": ("Yes", "No")}


@dataclass(frozen=True)
class Span:
    """The phrase of a sentence that answers, with its character offsets in the sentence."""

    text: str
    start: int
    end: int


def sentence_words(sentence: str) -> list[str]:
    """The sentence's words as the grammar allows them (split on spaces)."""
    return sentence.split()


def _literal(text: str) -> str:
    """A GBNF string literal."""
    return json.dumps(text, ensure_ascii=False)


_LEAD = re.compile(r"^[\"'«“(\[]+")
_TRAIL = re.compile(r"[\"'»”)\].,،؛;:!?؟]+$")


def _parts(word: str) -> tuple[str, str, str]:
    """A word as (leading punctuation, core, trailing punctuation); a word of punctuation only is all core."""
    lead = m.group(0) if (m := _LEAD.search(word)) else ""
    trail = m.group(0) if (m := _TRAIL.search(word[len(lead) :])) else ""
    core = word[len(lead) : len(word) - len(trail)]
    return (lead, core, trail) if core else ("", word, "")


def held_words(text: str) -> frozenset[str]:
    """The folded words of a text and their forms without a leading clitic (what `grammar` may avoid starting at)."""
    from .text import proclitic_forms, words

    return frozenset(f for w in words(text) for f in proclitic_forms(w))


def grammar(sentences: list[str], avoid: frozenset[str] = frozenset()) -> str:
    """GBNF allowing exactly the runs of words of one of the sentences, separated by single spaces;
    runs do not start at a word in `avoid` (unless every word is).

    Runs may start at any word: an answer often shares its first word with the
    question ("اللحام بالأكسجين" for "which welding process?"); runs kept from
    starting at the question's words lost more than they gained on XQuAD
    (docs/evaluation.md). Only a question asking who or what someone is
    avoids them: its answer describes the name it holds.

    A run may start and end without the punctuation around its first and last
    word ("جون إلواي" out of "… جون إلواي، الذي …"): a model that wants to stop
    after a name must not be made to write the comma after it, and then the
    next word."""
    starts: list[str] = []
    lines = ['end ::= [.,،؛:!?؟\\n]']
    for k, sentence in enumerate(sentences):
        ws = [_parts(w) for w in sentence_words(sentence)]
        starting = [i for i, (_, core, _) in enumerate(ws) if not (held_words(core) & avoid)] if avoid else []
        allowed = set(starting or range(len(ws)))
        for i, (lead, core, trail) in enumerate(ws):
            go_on = f"{_literal(trail + ' ')} c{k}x{i + 1} | " if i + 1 < len(ws) else ""
            lines.append(f"s{k}x{i} ::= {_literal(core)} t{k}x{i}")
            lines.append(f"c{k}x{i} ::= {_literal(lead + core)} t{k}x{i}" if lead else f"c{k}x{i} ::= s{k}x{i}")
            lines.append(f"t{k}x{i} ::= ({go_on}end)?")
            if i in allowed:
                starts.append(f"s{k}x{i}")
    if not starts:
        raise ValueError("no sentence with words")
    return "\n".join(["root ::= " + " | ".join(starts), *lines]) + "\n"


def choice_grammar(phrases: list[str], lists: bool = True) -> str:
    """GBNF allowing one of the phrases, or (lists) several joined by commas or "and"."""
    if not phrases:
        raise ValueError("no phrase to choose from")
    one = " | ".join(_literal(p) for p in phrases)
    joined = ' ((", " | " و" | " و " | " and ") choice)*' if lists and len(phrases) > 1 else ""
    return f"root ::= choice{joined} end?\nchoice ::= {one}\nend ::= [.,،؛:!?؟\\n]\n"


def yes_no_grammar(language: str) -> str:
    """GBNF allowing only the yes and the no of the language."""
    return "root ::= " + " | ".join(_literal(w) for w in YES_NO[language]) + "\n"


def settled(draft: str) -> str:
    """The part of a streaming phrase that later tokens cannot take back: without its trailing
    punctuation (the grammar lets a phrase end on a mark that is then dropped)."""
    return draft.rstrip(EDGE)


def messages(question: str, sentence: str, context: str = "", yesno: bool = False, examples: bool = False, clause: bool = False) -> list[Message]:
    """The prompt: the sentence, the question (and the earlier question of a follow-up);
    a yes/no question asks for yes or no."""
    lines = [f"Sentence: {strip_special_tokens(sentence)}"]
    if context:
        lines.append(f"Earlier question: {strip_special_tokens(context)}")
    lines.append(f"Question: {strip_special_tokens(question)}")
    system = YES_NO_SYSTEM if yesno else (CLAUSE_SYSTEM + CLAUSE_EXAMPLES * examples) if clause else (SPAN_SYSTEM + EXAMPLES * examples)
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]


def locate(phrase: str, sentence: str) -> Span | None:
    """Where a copied phrase stands in the sentence, its edge punctuation dropped; None when it is not in it."""
    phrase = " ".join(phrase.split()).strip(EDGE)
    if not phrase:
        return None
    at = sentence.find(phrase)
    if at < 0:  # spacing differs: match word by word
        pattern = r"\s+".join(re.escape(w) for w in phrase.split())
        m = re.search(pattern, sentence)
        if m is None:
            return None
        return Span(m.group(0), m.start(), m.end())
    return Span(phrase, at, at + len(phrase))


def distinct(text: str, choices: list[str]) -> str:
    """A list of chosen phrases without one chosen twice ("ريتشارد وريتشارد": ريتشارد)."""
    if not choices:
        return text
    found = re.findall("|".join(re.escape(c) for c in sorted(set(choices), key=len, reverse=True)), text)
    if len(found) == len(set(found)):
        return text
    return "، ".join(dict.fromkeys(found))


def locate_choices(text: str, choices: list[str], sentence: str) -> Span | None:
    """Where the phrases chosen from `choices` stand in the sentence: the one chosen, or, for several
    joined ("أوشاكوف وباتروشيف"), from the first to the last; None when the text holds none of them."""
    chosen = [c for c in choices if c in text]
    found = [f for c in chosen if (f := locate(c, sentence)) is not None]
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    start, end = min(f.start for f in found), max(f.end for f in found)
    return Span(sentence[start:end], start, end)


def is_whole(span: Span, sentence: str) -> bool:
    """The span is (nearly) the whole sentence: it picked no phrase."""
    return len(normalize(span.text)) >= 0.9 * len(normalize(sentence.strip(EDGE)))

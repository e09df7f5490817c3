"""The generator's ceiling: each answerable dev question answered from its gold
evidence sentences alone, in the pipeline's prompt (`prompting.answer_messages`).

    .venv/bin/python eval/ceiling.py [--cache FILE]

The gold evidence of `eval/dev.jsonl` is widened to the whole indexed
sentence holding it (an evidence entry may be a clause, without the
sentence's subject), at most two a question, shown as the only passages; an
English prompt carries the names' English spellings as the pipeline's do, and
a follow-up its earlier question. What this scores bounds every design that
changes which evidence the generator reads (retrieval, sentence selection,
follow-up handling): none can give it better evidence than the gold. Prints
accuracy and refusals per language, stand-alone and follow-up; reads only the
dev set (never the test set). Generations are kept by prompt (`--cache`), as
in `rag eval`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag import evaluation, prompting  # noqa: E402
from rag.answering import load_assistant  # noqa: E402
from rag.chunking import Chunk  # noqa: E402
from rag.retrieval import Passage  # noqa: E402
from rag.settings import Settings, user_cache  # noqa: E402
from rag.text import normalize  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=user_cache() / "rag" / "generations.jsonl")
    args = parser.parse_args()
    settings = Settings.load()
    assistant = load_assistant(settings)
    generator = evaluation.KeptGenerations(assistant.generator, args.cache, settings)
    held: dict[str, Passage] = {}  # each indexed sentence, normalized, as a passage of that sentence alone
    for chunk in assistant.index.chunks:
        for i, text in enumerate(chunk.sentence_texts()):
            held.setdefault(normalize(text), Passage(0, chunk, (i,), 0.0))

    def whole(evidence: str, doc_id: str) -> Passage:
        """The indexed sentence holding the evidence; the evidence itself when no one sentence does."""
        found = normalize(evidence)
        return next((p for text, p in held.items() if found in text), None) or Passage(
            0, Chunk("evidence", doc_id, "", None, evidence, 0, len(evidence), ((0, len(evidence)),)), (0,), 0.0)

    tally: dict[tuple[str, str], list[int]] = {}
    for q in evaluation.load_questions(evaluation.SETS["dev"]):
        if not q.answerable:
            continue
        shown = list({p.text: p for p in (whole(e, q.doc_ids[0]) for e in q.evidence[:2])}.values())
        passages = [replace(p, n=i) for i, p in enumerate(shown, 1)]
        earlier = next((m["content"] for m in reversed(q.history) if m["role"] == "user"), "")
        english = q.language == "en"
        glossary = assistant.english.glossary(" ".join(p.text for p in passages), [q.question, earlier]) if english else {}
        messages = prompting.answer_messages(q.question, passages, earlier, glossary if english else None)
        draft = "".join(p for p in generator.stream(messages, settings.max_answer_tokens) if isinstance(p, str))
        text = prompting.tidy_english(draft, glossary) if english else draft
        refused = prompting.refuses(text)
        row = tally.setdefault((q.language, "follow-up" if q.history else "stand-alone"), [0, 0, 0])
        row[0] += not refused and evaluation.answer_correct(text, q.answers, q.language)
        row[1] += 1
        row[2] += refused
    print("dev, answerable questions, answered from their gold evidence sentences alone")
    print(f"{'':<22}{'accuracy':>9}{'refused':>9}{'questions':>11}")
    for language in ("ar", "en"):
        rows = {kind: v for (lang, kind), v in tally.items() if lang == language}
        total = [sum(v[i] for v in rows.values()) for i in range(3)]
        for kind, (right, n, refused) in [*sorted(rows.items()), ("all", total)]:
            print(f"{language + ', ' + kind:<22}{right / n:>9.2f}{refused / n:>9.2f}{n:>11}")


if __name__ == "__main__":
    main()

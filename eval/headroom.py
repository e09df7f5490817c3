"""Where the answers lose: each set answered as `rag eval` answers it, then
again with the quote chosen by the gold, and the best phrase each quote holds.

    .venv/bin/python eval/headroom.py [--sets dev,xquad,arcd,xquad_en,arcd_en] [--generations FILE]

Three figures bound the two steps of the answer (which sentence, which phrase
of it) apart, per set, on its answerable questions:

- the answers as they are (token F1, "contains");
- the same pipeline with a perfect quote ranking: the best-ranked retrieved
  sentence that holds gold evidence put first (`evaluation.quote_holds`),
  the ranking left as it is where none does. What this scores, no choice of
  sentence among the retrieved ones can pass;
- the best phrase of the quote: the highest token F1 any run of at most
  `--span` of the quote's words scores against the gold (Arabic questions;
  an English question's gold is English and its quote Arabic). What this
  scores, no choice of phrase from that quote can pass.

Reads the dev set and the outside sets, never the test set. Generations are
kept by prompt (`--generations`), as in `rag eval`, so the run as it is
costs no generation when `rag eval` kept its own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import evaluation, quoting  # noqa: E402
from rag.settings import Settings, user_cache  # noqa: E402


def gold_first(rank: Any, evidence: dict[str, list[str]]) -> Any:
    """`QuoteRanker.rank`, with the first candidate holding the asked question's gold evidence put first."""

    def ranked(ranker: quoting.QuoteRanker, question: str, *args: Any, **kwargs: Any) -> list[quoting.Candidate]:
        out = rank(ranker, question, *args, **kwargs)
        right = next((i for i, c in enumerate(out) if evaluation.quote_holds(c.text, evidence.get(" ".join(question.split()), []))), None)
        return out if right is None else [out[right], *out[:right], *out[right + 1:]]

    return ranked


def best_phrase(quote: str, groups: list[list[str]], language: str, span: int) -> float:
    """The highest token F1 of any run of at most `span` of the quote's words."""
    tokens = quote.split()
    return max((evaluation.token_f1(" ".join(tokens[i:j]), groups, language)
                for i in range(len(tokens)) for j in range(i + 1, min(len(tokens), i + span) + 1)), default=0.0)


def figures(questions: list[evaluation.Question], results: list[dict[str, Any]], span: int) -> dict[str, float | None]:
    """F1, contains, quote precision and the best phrase's F1 over a run's answerable questions."""
    pairs = [(q, r) for q, r in zip(questions, results, strict=True) if q.answerable]
    n = len(pairs) or 1
    arabic = [(q, r) for q, r in pairs if q.language == "ar"]
    return {
        "n": len(pairs),
        "f1": sum(r["f1"] or 0.0 for _, r in pairs) / n,
        "contains": sum(bool(r["correct"]) for _, r in pairs) / n,
        "quote": sum(bool(r["quote_holds"]) for _, r in pairs) / n,
        "phrase": sum(best_phrase(r["quote"], q.answers, q.language, span) for q, r in arabic) / len(arabic) if arabic else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="dev,xquad,arcd,xquad_en,arcd_en")
    parser.add_argument("--generations", type=Path, default=user_cache() / "rag" / "generations.jsonl")
    parser.add_argument("--span", type=int, default=12, help="longest phrase, in words, for the best phrase of a quote")
    args = parser.parse_args(argv)
    if "test" in Settings.split(args.sets):
        parser.error("the test set is read as totals only (rag eval)")
    from rag.embedding import load_embedder
    from rag.generation import load_generator

    base = Settings.load()
    embedder = load_embedder(base)
    generator = evaluation.KeptGenerations(load_generator(base), args.generations, base)
    as_it_is = quoting.QuoteRanker.rank
    rows = []
    for name in Settings.split(args.sets):
        settings, questions = evaluation.question_set(name, base, embedder=embedder)
        evidence: dict[str, list[str]] = {}
        for q in questions:
            evidence.setdefault(" ".join(q.question.split()), []).extend(q.evidence)
        runs = {}
        for label in ("as it is", "gold quote"):
            quoting.QuoteRanker.rank = gold_first(as_it_is, evidence) if label == "gold quote" else as_it_is  # type: ignore[method-assign]
            data = evaluation.run(settings, questions, False, progress=False, generator=generator, embedder=embedder, modes=())
            runs[label] = figures(questions, data["results"], args.span)
        quoting.QuoteRanker.rank = as_it_is  # type: ignore[method-assign]
        for label, f in runs.items():
            rows.append((name, label, f))
            phrase = "–" if f["phrase"] is None else f"{f['phrase']:.2f}"
            print(f"{name:<9} {label:<11} n={f['n']:<4} F1 {f['f1']:.2f}  contains {f['contains']:.2f}  quote holds gold {f['quote']:.2f}  best phrase of the quote {phrase}", flush=True)
    print(f"\ngenerations kept {generator.hits}, generated {generator.misses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

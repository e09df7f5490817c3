"""Each mechanism of the answer path switched off, against all of them on:
on the dev set, the frozen test set (totals only), ARCD in Arabic and ARCD
asked in English.

    .venv/bin/python eval/ablation.py [--configs baseline,glossary,…] [--sets dev,test,arcd,xquad,xquad_en,arcd_en]

A mechanism earns its place when switching it off costs accuracy beyond the
dev set (test totals, ARCD), not on dev alone. Answers are greedy and depend
only on their own prompt (rag.generation), so a generation is kept by its
prompt (`--cache`) and a configuration regenerates only the prompts it
changes; timings are therefore not reported here. Writes eval/ablation.md
and eval/ablation.json (totals only for the test set); each configuration's
figures are added as they finish, so an interrupted run keeps what it had.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from rag import benchmarks, evaluation  # noqa: E402
from rag.generation import load_generator  # noqa: E402
from rag.settings import Settings, user_cache  # noqa: E402

# configuration → setting overrides; the code mechanisms by `ablate`, the others by their own setting
CONFIGS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "passages": {"answer_step": "passages"},  # the earlier design as a whole
    "quote_ranking": {"quote_ranking": "similarity"},
    "typed_kinds": {"typed_kinds": ""},
    "typed_names": {"typed_kinds": "when,duration,count"},
    "+span_examples": {"span_examples": True},
    "clause_kinds": {"clause_kinds": ""},
    "clause_what": {"clause_kinds": "why,how,identity"},
    "clause_which": {"clause_kinds": "why,how,identity,what"},
    "english_model": {"english_answer": "model"},
    "english_direct": {"english_answer": "direct"},
    "followup_join": {"ablate": "followup_join"},
    "glossary": {"ablate": "glossary"},
    "refusal_threshold": {"refusal_threshold": 0.0},
    "refusal_doubt": {"refusal_doubt": 1.0},
    "refusal_check": {"refusal_check": 1.0},
    "+refusal_doubt": {"refusal_doubt": 0.7963},  # rag.refusal.FIT.threshold, the fit's own choice on the built pairs
    # mechanisms of the passages design, measured within it
    "passages-completion": {"answer_step": "passages", "ablate": "completion"},
    "passages-focus_sentence": {"answer_step": "passages", "focus_sentence": False},
    "passages-unsupported_threshold": {"answer_step": "passages", "unsupported_threshold": 0.0},
    "passages-evidence_margin": {"answer_step": "passages", "evidence_margin": 2.0},
    "+script_retrieval": {"retrieval_mode": "script"},  # a candidate added, not a mechanism removed
}
DOC = {
    "baseline": "everything on (the default settings): the quote first, the phrase copied from it",
    "passages": "the earlier design: the model writes a cited answer from the best few sentences (answer_step=passages)",
    "quote_ranking": "the quote is the sentence most similar to the question (no fitted ranking)",
    "typed_kinds": "the phrase is copied freely from the quote for every kind of question (no choice among its dates, numbers, names, places)",
    "typed_names": "dates and numbers chosen among, names and places copied freely",
    "+span_examples": "added: worked examples in the copy prompts' system messages (the shortest phrase, the clause)",
    "clause_kinds": "every question answered by the quote's shortest phrase (no clause for why, how, identity and what questions)",
    "clause_what": "what/which questions answered by the shortest phrase (a clause for why, how and identity only)",
    "clause_which": "which-questions (\"which treaty?\", \"ما المعاهدة التي؟\") answered by the shortest phrase (a clause for other what questions)",
    "english_model": "English answers: the model puts the copied phrase into English (no lookup)",
    "english_direct": "English answers: the model answers in English from the quote, its names annotated",
    "followup_join": "a follow-up is retrieved and prompted without the previous question",
    "glossary": "English answers without the names' looked-up spellings",
    "repeat_retry": "(removed) a copied phrase that only repeats the question's words copied again, away from them",
    "refusal_threshold": "no refusal below a best-sentence similarity (0)",
    "refusal_doubt": "no refusal on the fitted doubt (refusal_doubt=1)",
    "refusal_check": "a doubtful quote answer is given without asking the passages design whether it refuses (refusal_check=1)",
    "+refusal_doubt": "refusal from a lower doubt: the threshold the fit chose on the built unanswerable questions (0.7963)",
    "naming": "the quoting path for who/what-is questions (removed)",
    "yes_no": "yes/no rule, opening and replacement of a bare yes/no (removed)",
    "loop_stop": "the loop stopper (removed)",
    "completion": "an answer that only points at passages or repeats the question is not completed with a quote",
    "drop_years": "dropping years neither the passages nor the question state (removed)",
    "filler": "dropping a courtesy opening such as Of course, بالطبع (removed)",
    "focus_sentence": "no repeated closest sentence in English prompts",
    "country_check": "refusal for a country no passage mentions (removed)",
    "unsupported_threshold": "an unverified answer on weak evidence is not withdrawn (0)",
    "evidence_margin": "all evidence sentences kept, however far below the best (2.0)",
    "passages-completion": "passages design: an answer that only points at passages is not completed with a quote",
    "passages-focus_sentence": "passages design: no repeated closest sentence in English prompts",
    "passages-unsupported_threshold": "passages design: an unverified answer on weak evidence is not withdrawn",
    "passages-evidence_margin": "passages design: all evidence sentences kept, however far below the best",
    "+script_retrieval": "added: BM25 fused in for questions in the articles' script (retrieval_mode=script)",
}


class KeptEmbeddings:
    """The embedder, each text embedded once for the whole run (every configuration asks the same texts)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id, self.dimension = inner.model_id, inner.dimension
        self._documents: dict[str, Any] = {}
        self._queries: dict[str, Any] = {}

    def embed_documents(self, texts: list[str], progress: bool = False) -> Any:
        import numpy as np

        new = [t for t in dict.fromkeys(texts) if t not in self._documents]
        if new:
            self._documents.update(zip(new, self.inner.embed_documents(new, progress), strict=True))
        return np.stack([self._documents[t] for t in texts]) if texts else self.inner.embed_documents([])

    def embed_query(self, text: str) -> Any:
        if text not in self._queries:
            self._queries[text] = self.inner.embed_query(text)
        return self._queries[text]

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))

    def fingerprint(self) -> dict[str, str]:
        return dict(self.inner.fingerprint())


def question_sets(args: argparse.Namespace, base: Settings, embedder: Any) -> dict[str, tuple[Settings, list[evaluation.Question]]]:
    """name → (settings with that set's corpus and index, questions)."""
    sets: dict[str, tuple[Settings, list[evaluation.Question]]] = {}
    for name in Settings.split(args.sets):
        try:
            settings, questions = evaluation.question_set(name, base, args.work, embedder)
            sets[name] = (settings, benchmarks.sample(questions, args.limit) if name not in ("dev", "test") else questions)
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
    return sets


def figures(name: str, data: dict[str, Any], questions: list[evaluation.Question]) -> dict[str, Any]:
    """The figures a set contributes: totals only (accuracy, token F1, exact match and quote precision per language, refusals)."""
    s = data["summary"]
    out: dict[str, Any] = {}
    for lang in ("ar", "en"):
        if (g := s.get(f"lang:{lang}")) and g.get("accuracy") is not None:
            out[f"acc_{lang}"] = g["accuracy"]
            out[f"f1_{lang}"] = g.get("f1")
            out[f"em_{lang}"] = g.get("exact_match")
            out[f"quote_{lang}"] = g.get("quote_precision")
            out[f"evidence_{lang}"] = g.get("evidence_in_prompt")
    if (g := s["all"]).get("refusal_rate") is not None:
        out["refusal"] = g["refusal_rate"]
    out["false_refusal"] = s["all"].get("false_refusal_rate")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--sets", default="dev,test,arcd,xquad,xquad_en")
    parser.add_argument("--cache", type=Path, default=user_cache() / "rag" / "generations.jsonl")
    parser.add_argument("--work", type=Path, default=evaluation.WORK, help="outside sets' corpora and indexes")
    parser.add_argument("--out", type=Path, default=ROOT / "eval")
    parser.add_argument("--report-only", action="store_true", help="rewrite ablation.md from ablation.json, run nothing")
    parser.add_argument("--limit", type=int, default=0, help="outside sets: this many of their questions, evenly spread (0: all)")
    parser.add_argument("--results", type=Path, default=None, help="also write each configuration's per-question results here (never the test set's)")
    args = parser.parse_args()
    if args.report_only:
        (args.out / "ablation.md").write_text(markdown(json.loads((args.out / "ablation.json").read_text())), encoding="utf-8")
        return
    base = Settings.load()
    from rag.embedding import load_embedder

    embedder = KeptEmbeddings(load_embedder(base))
    sets = question_sets(args, base, embedder)
    inner = load_generator(base)
    generator = evaluation.KeptGenerations(inner, args.cache, base)
    table_path = args.out / "ablation.json"
    table: dict[str, Any] = json.loads(table_path.read_text()) if table_path.exists() else {}
    for config in Settings.split(args.configs):
        overrides = CONFIGS[config]
        row = table.setdefault(config, {})
        for name, (settings, questions) in sets.items():
            started = time.time()
            before = generator.misses
            data = evaluation.run(settings.replace(**overrides), questions, False, progress=False, generator=generator, embedder=embedder, modes=("dense",))
            row[name] = figures(name, data, questions)
            if args.results and name != "test":
                args.results.mkdir(parents=True, exist_ok=True)
                (args.results / f"{config}-{name}.json").write_text(json.dumps(data["results"], ensure_ascii=False, indent=1), encoding="utf-8")
            print(f"{config:<22} {name:<8} {row[name]}  ({generator.misses - before} generated, {time.time() - started:.0f} s)", flush=True)
            del data  # the test set's per-question results are never kept
        table_path.write_text(json.dumps(table, indent=1), encoding="utf-8")
        (args.out / "ablation.md").write_text(markdown(table), encoding="utf-8")


COLUMNS = [("dev", "acc_ar"), ("dev", "acc_en"), ("dev", "f1_ar"), ("dev", "f1_en"), ("dev", "refusal"), ("test", "acc_ar"), ("test", "acc_en"), ("test", "refusal"),
           ("test", "false_refusal"), ("arcd", "f1_ar"), ("arcd", "acc_ar"), ("xquad", "f1_ar"), ("xquad_en", "f1_en"), ("arcd_en", "acc_en")]


def markdown(table: dict[str, Any]) -> str:
    """eval/ablation.md: one row per configuration; each cell the figure and its change from the baseline."""
    base = table.get("baseline", {})
    lines = [
        "# Ablation: each mechanism of the answer path switched off", "",
        "`.venv/bin/python eval/ablation.py`. Accuracy as in `rag eval` (ARCD: a gold span in the answer; f1: token F1). "
        "test: the frozen set, totals only; refusal: on unanswerable questions. In brackets: the change from the baseline (all on); "
        "a mechanism helps where switching it off loses (a refusal or accuracy figure falls, a false-refusal figure rises).", "",
        "| switched off | what changes | " + " | ".join(f"{s} {m}" for s, m in COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for config, row in table.items():
        cells = []
        for s, m in COLUMNS:
            value = row.get(s, {}).get(m)
            ref = base.get(s, {}).get(m)
            if value is None:
                cells.append("–")
            elif config == "baseline" or ref is None:
                cells.append(f"{value:.2f}")
            else:
                cells.append(f"{value:.2f} ({value - ref:+.2f})")
        lines.append(f"| {config if config != 'baseline' else '(none)'} | {DOC.get(config, '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

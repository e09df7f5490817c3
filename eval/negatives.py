"""Built unanswerable questions, by the hundred, and the refusal decision fitted on them.

    .venv/bin/python eval/negatives.py [--sets dev,arcd,xquad,xquad_en] [--out eval/negatives]

An answerable question becomes unanswerable, close to its topic, when what
states its answer is taken out of the corpus and the rest of the article
stays: the same names, places and subject, no answer. For a question of ARCD
or XQuAD that is the paragraph it was written on; for a dev question, its
evidence sentences. The chunks holding any of it are left out of retrieval
(`Without`: the index as if their text were not there), and the question is
kept only when no remaining chunk holds its gold answer. Each negative keeps
its answerable twin: the same question over the whole corpus.

For every question, negatives, twins, and dev's own unanswerable questions,
the signals the assistant has before its model runs are recorded (the
quote's similarity, its chunk's, the question's words in it, whether it
holds a phrase of the kind asked for, its lead over the next sentence), and
a logistic regression (scikit-learn) is fitted on them: on ARCD and XQuAD
with dev held apart, and the other ways round, each set's refusal and false
refusal reported at the threshold chosen for false refusals of at most 0.05
on the fitting sets. `--fit` prints the coefficients of the fit on every set,
the one `rag.refusal` holds. Writes `signals.jsonl` and `report.md` to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import benchmarks, evaluation, refusal  # noqa: E402
from rag.refusal import FEATURES  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.text import normalize  # noqa: E402


class Without:
    """An index without some of its chunks, for measuring only: retrieval as if their text were not in the corpus."""

    def __init__(self, inner: Any, rows: set[int]) -> None:
        self.inner = inner
        self.manifest = inner.manifest
        self.chunks = inner.chunks
        self.leave_out(rows)

    def leave_out(self, rows: set[int]) -> None:
        """Leave out these chunks (and only these) from now on."""
        self.rows = rows
        self._removed = {s for r in rows for s in self.inner.chunks[r].sentence_texts()}

    @property
    def location(self) -> str:
        return f"{self.inner.location} without {len(self.rows)} chunks"

    @property
    def doc_count(self) -> int:
        return int(self.inner.doc_count)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        found = self.inner.search(query, k + len(self.rows))
        return [(r, s) for r, s in found if r not in self.rows][:k]

    def sentence_vectors_of(self, rows: Sequence[int]) -> list[np.ndarray]:
        return list(self.inner.sentence_vectors_of(rows))

    def sentence_vector(self, text: str) -> np.ndarray | None:
        return None if text in self._removed else self.inner.sentence_vector(text)

    def ping(self) -> None:
        self.inner.ping()


@dataclass(frozen=True)
class Negative:
    """A question with what states its answer taken out of the corpus."""

    question: evaluation.Question
    rows: frozenset[int]  # the chunks left out


def _paragraphs(name: str) -> dict[str, str]:
    """Question id → the paragraph it was written on, for an outside set."""
    o = benchmarks.OUTSIDE[name]
    out = {}
    for article in json.loads(o.source.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                key = f"{o.corpus}-{qa['id']}" + ("-en" if o.language == "en" else "")
                out[key] = paragraph["context"]
    return out


def negatives(name: str, index: Any, questions: list[evaluation.Question]) -> list[Negative]:
    """The questions that become unanswerable once what states their answer is taken out."""
    stated = _paragraphs(name) if name in benchmarks.OUTSIDE else {}
    texts = [normalize(c.text) for c in index.chunks]
    sentences = [[normalize(s) for s in c.sentence_texts()] for c in index.chunks]
    out = []
    for q in questions:
        if not q.answerable:
            continue
        pieces = [normalize(stated[q.id])] if q.id in stated else [normalize(e) for e in q.evidence]
        rows = {r for r, ss in enumerate(sentences) for s in ss if len(s) > 20 and any(s in p or p in s for p in pieces)}
        if not rows:
            continue
        spans = q.evidence if q.language == "en" and q.id in stated else [a for group in q.answers for a in group]
        if any(normalize(a) and normalize(a) in texts[r] for a in spans for r in range(len(texts)) if r not in rows):
            continue  # the answer is stated elsewhere too: taking this out does not make it unanswerable
        out.append(Negative(q, frozenset(rows)))
    return out


def signals(assistant: Any, question: str, history: list[dict[str, str]]) -> dict[str, float]:
    """What the assistant knows of a question before its model runs (rag.refusal.signals)."""
    p = assistant.prepare(question, history)
    return refusal.signals(p.candidates, p.best)


def collect(names: list[str], base: Settings, work: Path | None, size: int | None = None) -> list[dict[str, Any]]:
    """The signals of every question of the sets, their built negatives and twins."""
    from rag import index as index_mod
    from rag.answering import Assistant
    from rag.embedding import load_embedder

    embedder = load_embedder(base)
    rows: list[dict[str, Any]] = []
    for name in names:
        settings, questions = evaluation.question_set(name, base, work, embedder, size)
        ix = index_mod.open_index(settings)
        whole = Assistant(settings, ix, embedder, _NoModel())
        built = negatives(name, ix, questions)
        for q in questions:
            rows.append({"set": name, "id": q.id, "language": q.language, "answerable": q.answerable, "built": False, **signals(whole, q.question, q.history)})
        gaps = Without(ix, set())
        without = Assistant(settings, gaps, embedder, _NoModel())  # one assistant, its index's gap moved from question to question
        for n in built:
            gaps.leave_out(set(n.rows))
            rows.append({"set": name, "id": n.question.id, "language": n.question.language, "answerable": False, "built": True,
                         **signals(without, n.question.question, n.question.history)})
        print(f"{name}: {len(questions)} questions, {len(built)} built negatives", file=sys.stderr, flush=True)
    return rows


class _NoModel:
    """The generator slot of an assistant that is only asked to prepare."""

    name = "none"
    n_ctx = 2048

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(len(m["content"].split()) for m in messages)

    def stream(self, messages: list[dict[str, str]], max_tokens: int, grammar: str | None = None) -> Any:
        raise AssertionError("no model here")


def _twins(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows that count: every unanswerable question (dev's own and the built), and the answerable twins of the built ones (and all of dev's)."""
    built = {(r["set"], r["id"]) for r in rows if r["built"]}
    return [r for r in rows if r["built"] or not r["answerable"] or (r["set"], r["id"]) in built or r["set"] == "dev"]


def fit(rows: list[dict[str, Any]]) -> tuple[Any, Any]:
    """A logistic regression of unanswerable on the signals, with its scaler."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.array([[r[f] for f in FEATURES] for r in rows])
    y = np.array([not r["answerable"] for r in rows])
    scaler = StandardScaler().fit(x)
    return LogisticRegression(max_iter=1000).fit(scaler.transform(x), y), scaler


def threshold(model: Any, scaler: Any, rows: list[dict[str, Any]], false_refusal: float = 0.05) -> float:
    """The lowest refusal probability that refuses at most `false_refusal` of the answerable rows."""
    p = _probability(model, scaler, [r for r in rows if r["answerable"]])
    return float(np.quantile(p, 1 - false_refusal)) if len(p) else 1.0


def _probability(model: Any, scaler: Any, rows: list[dict[str, Any]]) -> np.ndarray:
    if not rows:
        return np.zeros(0)
    return np.asarray(model.predict_proba(scaler.transform(np.array([[r[f] for f in FEATURES] for r in rows])))[:, 1])


def report(rows: list[dict[str, Any]]) -> list[str]:
    """For each set held apart: refusal of its negatives and false refusal of its twins, fitted on the others."""
    rows = _twins(rows)
    names = list(dict.fromkeys(r["set"] for r in rows))
    corpus = {n: n.split("_")[0] for n in names}
    lines = ["| held apart | fitted on | negatives | refused | twins / answerable | falsely refused | threshold |", "|---|---|---|---|---|---|---|"]
    for held in names:
        train = [r for r in rows if corpus[r["set"]] != corpus[held]]
        model, scaler = fit(train)
        t = threshold(model, scaler, train)
        mine = [r for r in rows if r["set"] == held]
        neg, pos = [r for r in mine if not r["answerable"]], [r for r in mine if r["answerable"]]
        refused = float(np.mean(_probability(model, scaler, neg) >= t)) if neg else float("nan")
        false = float(np.mean(_probability(model, scaler, pos) >= t)) if pos else float("nan")
        fitted_on = ", ".join(n for n in names if corpus[n] != corpus[held])
        lines.append(f"| {held} | {fitted_on} | {len(neg)} | {refused:.2f} | {len(pos)} | {false:.2f} | {t:.2f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="dev,arcd,xquad,xquad_en")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "negatives")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--size", type=int, default=300, help="questions of each outside set (0: all); dev and test are whole")
    parser.add_argument("--reuse", action="store_true", help="fit on the signals.jsonl of --out instead of collecting them again")
    parser.add_argument("--fit", action="store_true", help="print the fit on every set (its coefficients, scaling and threshold)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "signals.jsonl"
    if args.reuse:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        rows = collect(Settings.split(args.sets), Settings.load(), args.work, args.size)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    table = report(rows)
    print("\n".join(table))
    if args.fit:
        counted = _twins(rows)
        model, scaler = fit(counted)
        t = threshold(model, scaler, counted)
        print(json.dumps({"features": FEATURES, "mean": scaler.mean_.round(4).tolist(), "scale": scaler.scale_.round(4).tolist(),
                          "coef": model.coef_[0].round(4).tolist(), "intercept": round(float(model.intercept_[0]), 4), "threshold": round(t, 4)}))
    (args.out / "report.md").write_text("\n".join(["# Built unanswerable questions", "", f"`.venv/bin/python eval/negatives.py --sets {args.sets} --size {args.size}`", "", *table]) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

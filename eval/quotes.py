"""Which sentence: how often the sentence a ranking puts first (and among the
first three) holds the gold answer, on every set, without the generator.

    .venv/bin/python eval/quotes.py [--sets dev,arcd,xquad,xquad_en,arcd_en] [--dump FILE]

For each answerable question the chunks are retrieved as the assistant
retrieves them (follow-ups joined to their previous question), every sentence
of those chunks is a candidate, and a candidate is right when it holds gold
evidence (`evaluation.quote_holds`). `--dump` writes every candidate with its
features and label (JSON lines).

`--fit` fits the ranking `rag.quoting.WEIGHTS` holds on those candidates: a
conditional logit (a softmax over each question's candidates, the gold ones
its target), which scikit-learn does not offer (its logistic regression
scores candidates apart, and learned only "the first by similarity is
right"). Each set's P@1 is also shown for a fit on the other corpora alone
(held out: ARCD's English questions go with ARCD, XQuAD's with XQuAD), the
figure that says whether the ranking carries beyond the corpora it saw.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import evaluation  # noqa: E402
from rag.settings import Settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="dev,arcd,xquad,xquad_en,arcd_en")
    parser.add_argument("--dump", type=Path, default=None, help="write every candidate sentence with its features and label")
    parser.add_argument("--work", type=Path, default=None, help="outside sets' corpora and indexes (default: the eval work folder)")
    parser.add_argument("--fit", default="", help="fit the ranking on these features (comma-separated) and print its weights")
    args = parser.parse_args(argv)
    from rag import quoting
    from rag.embedding import load_embedder

    base = Settings.load()
    embedder = load_embedder(base)
    rows: list[dict[str, Any]] = []
    table = []
    for name in Settings.split(args.sets):
        settings, questions = evaluation.question_set(name, base, args.work, embedder)
        found = quoting.candidates_for(settings, embedder, [q for q in questions if q.answerable])
        hits1 = hits3 = reach = 0
        for q, cands in found:
            labels = [evaluation.quote_holds(c.text, q.evidence) for c in cands]
            order = sorted(range(len(cands)), key=lambda i: -cands[i].score)
            hits1 += bool(order) and labels[order[0]]
            hits3 += any(labels[i] for i in order[:3])
            reach += any(labels)
            for c, label in zip(cands, labels, strict=True):
                rows.append({"set": name, "id": q.id, "language": q.language, "label": label, "text": c.text, "doc_id": c.chunk.doc_id, **c.features})
        n = len(found)
        table.append((name, n, hits1 / n, hits3 / n, reach / n))
        print(f"{name:<9} n={n:<4} P@1 {hits1 / n:.2f}  P@3 {hits3 / n:.2f}  in the chunks {reach / n:.2f}", flush=True)
    if args.dump:
        args.dump.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    if args.fit:
        features = Settings.split(args.fit)
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault((r["set"], r["id"]), []).append(r)
        weights = fit(list(groups.values()), features)
        print("WEIGHTS =", json.dumps({k: round(v, 3) for k, v in weights.items()}))
        for name in dict.fromkeys(r["set"] for r in rows):
            corpus = name.split("_")[0]
            held = fit([g for k, g in groups.items() if k[0].split("_")[0] != corpus], features)
            mine = [g for k, g in groups.items() if k[0] == name]
            print(f"{name:<9} P@1 similarity {precision(mine, {'sim': 1.0}):.2f}  fitted {precision(mine, weights):.2f}  fitted without this corpus {precision(mine, held):.2f}")
    return 0


def precision(groups: list[list[dict[str, Any]]], weights: dict[str, float]) -> float:
    """Share of questions whose best-scored candidate is right."""
    import numpy as np

    hits = [g[int(np.argmax([sum(w * r[f] for f, w in weights.items()) for r in g]))]["label"] for g in groups if g]
    return sum(hits) / len(groups) if groups else 0.0


def fit(groups: list[list[dict[str, Any]]], features: list[str], l2: float = 0.01, steps: int = 3000, rate: float = 0.1) -> dict[str, float]:
    """Conditional-logit weights (on the features as given) by gradient descent on standardized features."""
    import numpy as np

    data = [(np.array([[float(r[f]) for f in features] for r in g]), np.array([float(r["label"]) for r in g])) for g in groups if any(r["label"] for r in g)]
    stacked = np.vstack([x for x, _ in data])
    mu, sd = stacked.mean(0), stacked.std(0) + 1e-9
    w = np.zeros(len(features))
    for _ in range(steps):
        grad = np.zeros_like(w)
        for x, y in data:
            z = (x - mu) / sd
            p = np.exp(z @ w - (z @ w).max())
            grad += z.T @ (p / p.sum() - y / y.sum())
        w -= rate * (grad / len(data) + l2 * w)
    return dict(zip(features, (w / sd).tolist(), strict=True))


if __name__ == "__main__":
    sys.exit(main())

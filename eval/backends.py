"""Retrieval on the two index stores, question for question: the FAISS folder
and PostgreSQL with pgvector, built from the same corpus with the same
embedding model, over the seed articles (the dev set) and ARCD (all 702
questions).

    .venv/bin/python eval/backends.py [--out eval/backends.md]

A throwaway PostgreSQL 18 with pgvector runs on 127.0.0.1 for the run
(tests/postgres.py). Each corpus is indexed into both stores, then
`rag eval --retrieval-only`'s measurement (evaluation.run) ranks every
question's gold article in each retrieval mode on each store. Written: the
figures of each store and how many questions got a different rank.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "eval"))

from rag import evaluation, pgindex  # noqa: E402
from rag import index as index_mod  # noqa: E402
from rag.embedding import load_embedder  # noqa: E402
from rag.retrieval import MODES  # noqa: E402
from rag.settings import Settings, user_cache  # noqa: E402


def compare(name: str, settings: Settings, questions: list[evaluation.Question], url: str, embedder) -> list[str]:
    """Rows of the report for one corpus: each store's R@1 / R@5 per mode, and the questions whose ranks differ."""
    import psycopg

    database = name.lower().replace(" ", "_")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    stores = {"faiss": settings, "pgvector": settings.replace(index_backend="pgvector", database_url=url.rsplit("/", 1)[0] + "/" + database)}
    ranks = {}
    for store, s in stores.items():
        report = index_mod.build_index(s, embedder)
        print(f"{name} / {store}: {report.documents} articles, {report.chunks} chunks, {report.embedded} texts embedded", flush=True)
        ranks[store] = evaluation.run(s, questions, retrieval_only=True, progress=False, embedder=embedder)["results"]
    rows = []
    for mode in MODES:
        key = f"rank_{mode}"
        figures = []
        for store in stores:
            found = [r[key] for r in ranks[store] if key in r]
            figures.append(f"{evaluation.recall_at(found, 1):.3f} / {evaluation.recall_at(found, 5):.3f}")
        differ = sum(a.get(key) != b.get(key) for a, b in zip(ranks["faiss"], ranks["pgvector"], strict=True))
        rows.append(f"| {name} ({len([r for r in ranks['faiss'] if key in r])} questions) | {mode} | {figures[0]} | {figures[1]} | {differ} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "backends.md")
    args = parser.parse_args()
    import arcd
    from postgres import postgres
    from serving import free_port

    started = time.time()
    settings = Settings.load()
    embedder = load_embedder(settings)
    work = user_cache() / "rag" / "arcd"
    arcd_questions = evaluation.load_questions(arcd.prepare(arcd.DEFAULT_SOURCE, work, 0))
    corpora = [
        ("seeds dev", settings, evaluation.load_questions(ROOT / "eval" / "dev.jsonl")),
        ("ARCD", settings.replace(corpus_dir=work / "corpus", index_dir=work / "index"), arcd_questions),
    ]
    rows = []
    with postgres(free_port()) as pg:
        for name, s, questions in corpora:
            rows += compare(name, s, questions, pg.url, embedder)
    lines = [
        "# Retrieval on both index stores",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; `.venv/bin/python eval/backends.py` ({(time.time() - started) / 60:.0f} min). "
        f"Embedding {settings.embedding_model}; default chunking; pgvector HNSW (cosine, m {pgindex._HNSW['m']}, ef_construction {pgindex._HNSW['ef_construction']}), "
        f"hnsw_ef_search {settings.hnsw_ef_search}. "
        "Gold article in the top 1 / top 5, as `rag eval --retrieval-only` counts it.",
        "",
        "| corpus | mode | FAISS R@1 / R@5 | pgvector R@1 / R@5 | questions ranked differently |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

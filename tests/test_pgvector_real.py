"""The database index with the real models, as a deployment would use it:
`rag index`, `rag search`, `rag ask` and `rag eval --retrieval-only` with
index_backend=pgvector against a real PostgreSQL on 127.0.0.1, and the chat UI
in a real browser over it. Retrieval must equal the FAISS index's, question
for question."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest
from serving import app_process
from test_ui_browser import _ask

from rag import index
from rag.evaluation import load_questions, run
from rag.settings import REPO_ROOT

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def pg_real(pg_server, real_settings, real_embedder, real_index):
    """Default settings over a database index of seeds/ built with the real embedding model."""
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE real_models")
    s = real_settings.replace(index_backend="pgvector", database_url=pg_server.url.rsplit("/", 1)[0] + "/real_models")
    index.build_index(s, real_embedder)
    return s


def _rag(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_INDEX_BACKEND": "pgvector", "RAG_DATABASE_URL": settings.database_url, "RAG_MODEL_DIR": str(settings.model_dir)}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_retrieval_figures_equal_the_faiss_index(pg_real, real_settings, real_embedder) -> None:
    questions = load_questions(REPO_ROOT / "eval" / "dev.jsonl")
    ranks = [
        [{k: v for k, v in r.items() if k.startswith("rank_")} for r in run(s, questions, retrieval_only=True, progress=False, embedder=real_embedder)["results"]]
        for s in (pg_real, real_settings)
    ]
    assert ranks[0] == ranks[1]
    assert sum(r.get("rank_dense") == 1 for r in ranks[0]) > len(questions) / 2


def test_cli_index_search_and_ask(pg_real) -> None:
    built = _rag(pg_real, "index")
    assert built.returncode == 0, built.stderr
    assert "0 texts embedded" in built.stdout and "build" in built.stdout  # nothing changed: every vector reused
    found = _rag(pg_real, "search", "--json", "مع من تحدث سوليفان؟")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["hits"][0]["doc_id"].startswith("000")
    asked = _rag(pg_real, "ask", "--json", "Who did Sullivan talk to?")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["language"] == "en" and ("Ushakov" in answer["answer"] or "Patrushev" in answer["answer"])
    assert answer["citations"] and all(c["doc_id"].startswith("000") for c in answer["citations"])


@pytest.mark.browser
def test_chat_ui_over_the_database_index(pg_real, browser) -> None:
    env = {"RAG_INDEX_BACKEND": "pgvector", "RAG_DATABASE_URL": pg_real.database_url, "RAG_MODEL_DIR": str(pg_real.model_dir)}
    with app_process(env) as url:
        page = browser.new_page()
        page.goto(url)
        assert "articles" in page.locator("#status").inner_text()
        answer = _ask(page, "مع من تحدث سوليفان؟", 1)
        assert "أوشاكوف" in answer.inner_text()
        title = next(d["title"] for d in index.open_index(pg_real).manifest["documents"] if d["doc_id"].startswith("000"))
        assert title[:40] in answer.locator(".sources summary").first.inner_text()
        page.close()

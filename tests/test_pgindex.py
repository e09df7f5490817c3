"""The index in a real PostgreSQL 18 with pgvector (started on 127.0.0.1 by the
tests, tests/postgres.py), against the FAISS folder built from the same corpus
with the same embedder: same chunks, same nearest chunks, same evidence, same
answers; incremental builds, the atomic switch, and a database that goes down."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from conftest import FakeGenerator, well_behaved

from rag import index, pgindex
from rag.answering import Assistant
from rag.errors import IndexMissing, IndexModelMismatch, IndexUnavailable, RagError
from rag.evaluation import load_questions, run
from rag.settings import REPO_ROOT

QUERIES = ["مع من تحدث سوليفان؟", "who did Sullivan talk to?", "وقف إطلاق النار في غزة", "Pentagon Milley Gerasimov call", "الطقس"]





def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'rag_%'").fetchall()}


def test_same_chunks_search_and_evidence_as_faiss(pg_settings, fake_embedder, fake_index) -> None:
    report = index.build_index(pg_settings, fake_embedder)
    pg = index.open_index(pg_settings)
    assert isinstance(pg, pgindex.PgIndex) and "build" in report.location
    assert report.documents == 5 and report.chunks == len(fake_index.chunks) and pg.doc_count == 5
    assert pg.chunks == fake_index.chunks
    assert {k: v for k, v in pg.manifest.items() if k not in ("built_at", "build_seconds", "store", "build", "hnsw")} == {
        k: v for k, v in fake_index.manifest.items() if k not in ("built_at", "build_seconds", "faiss_index", "sentence_offsets", "files")
    }
    for query in QUERIES:
        vector = fake_embedder.embed_query(query)
        got, want = pg.search(vector, 5), fake_index.search(vector, 5)
        assert [r for r, _ in got] == [r for r, _ in want], query
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
    rows = [0, 7, 3]
    for mine, theirs in zip(pg.sentence_vectors_of(rows), fake_index.sentence_vectors_of(rows), strict=True):
        assert mine.shape == theirs.shape and np.allclose(mine, theirs, atol=1e-6)
    sentence = fake_index.chunks[2].sentence_texts()[0]
    assert np.allclose(pg.sentence_vector(sentence), fake_index.sentence_vector(sentence), atol=1e-6)
    assert pg.sentence_vector("a sentence of no article") is None


def test_answers_equal_faiss_answers(pg_settings, fake_embedder, fake_index) -> None:
    index.build_index(pg_settings, fake_embedder)
    pg = index.open_index(pg_settings)

    for question in QUERIES[:3]:
        answers = [Assistant(pg_settings, ix, fake_embedder, FakeGenerator(well_behaved)).ask(question) for ix in (pg, fake_index)]
        assert answers[0].answer == answers[1].answer and answers[0].quote == answers[1].quote
        assert [(c.doc_id, c.chunk_id, c.supported) for c in answers[0].citations] == [(c.doc_id, c.chunk_id, c.supported) for c in answers[1].citations]


def test_retrieval_only_eval_matches_faiss(pg_settings, fake_embedder, fake_index) -> None:
    index.build_index(pg_settings, fake_embedder)
    questions = load_questions(REPO_ROOT / "eval" / "dev.jsonl")
    faiss_settings = pg_settings.replace(index_backend="faiss")
    ranks = [
        [{k: v for k, v in r.items() if k.startswith("rank_")} for r in run(s, questions, retrieval_only=True, progress=False, embedder=fake_embedder)["results"]]
        for s in (pg_settings, faiss_settings)
    ]
    assert ranks[0] == ranks[1] and any(r for r in ranks[0])


def test_rebuild_is_incremental_and_switches_atomically(pg_settings, fake_embedder, monkeypatch) -> None:
    first = index.build_index(pg_settings, fake_embedder)
    second = index.build_index(pg_settings, fake_embedder)
    assert first.embedded > 0 and second.embedded == 0 and second.reused == first.embedded
    (pg_settings.corpus_dir / "new.txt").write_text("مقال جديد\nتحدث الوزير عن الطقس اليوم.", encoding="utf-8")
    third = index.build_index(pg_settings, fake_embedder)
    assert 0 < third.embedded <= 4
    live = index.open_index(pg_settings)
    assert live.doc_count == 6
    # only the live build and the one before it are kept
    assert len([t for t in _tables(pg_settings.database_url) if t.startswith("rag_chunks_")]) == 2

    # a build that fails inside its transaction leaves the live build serving, and no trace
    before = _tables(pg_settings.database_url)
    (pg_settings.corpus_dir / "newer.txt").write_text("مقال آخر\nزار الرئيس المدينة أمس.", encoding="utf-8")

    def fail(*args, **kwargs):
        raise RuntimeError("killed while writing")

    monkeypatch.setattr(pgindex, "manifest_for", fail)
    with pytest.raises(RuntimeError, match="killed"):
        index.build_index(pg_settings, fake_embedder)
    after = index.open_index(pg_settings)
    assert after.build_id == live.build_id and after.doc_count == 6
    assert _tables(pg_settings.database_url) == before


def test_a_replica_on_a_dropped_build_is_told_to_restart(pg_settings, fake_embedder) -> None:
    index.build_index(pg_settings, fake_embedder)
    old = index.open_index(pg_settings)
    index.build_index(pg_settings, fake_embedder)
    assert old.search(fake_embedder.embed_query(QUERIES[0]), 3)  # the build before the live one still answers
    index.build_index(pg_settings, fake_embedder)
    with pytest.raises(IndexMissing, match="restart"):
        old.search(fake_embedder.embed_query(QUERIES[1]), 3)


def test_model_mismatch_and_missing_index(pg_settings, fake_embedder) -> None:
    with pytest.raises(IndexMissing, match="rag index"):
        index.open_index(pg_settings)
    index.build_index(pg_settings, fake_embedder)

    class Other(type(fake_embedder)):
        model_id = "other/model"

    with pytest.raises(IndexModelMismatch):
        index.check_model(index.open_index(pg_settings), Other())
    assert index.build_index(pg_settings, Other()).reused == 0  # another model's vectors are never reused


def test_database_down_is_a_retryable_error_and_recovers(pg_settings, fake_embedder, pg_server) -> None:
    index.build_index(pg_settings, fake_embedder)
    live = index.open_index(pg_settings)
    vector = fake_embedder.embed_query(QUERIES[0])
    expected = live.search(vector, 3)
    pg_server.stop()
    try:
        with pytest.raises(IndexUnavailable, match="try again"):
            live.search(vector, 3)
        with pytest.raises(IndexUnavailable, match="127.0.0.1"):
            index.open_index(pg_settings)
    finally:
        pg_server.start()
    assert live.search(vector, 3) == expected  # the replica reconnects by itself


def test_bad_database_settings(settings) -> None:
    with pytest.raises(RagError, match="database_url"):
        index.open_index(settings.replace(index_backend="pgvector"))
    with pytest.raises(IndexUnavailable):
        index.open_index(settings.replace(index_backend="pgvector", database_url="postgresql://nobody@127.0.0.1:1/none", database_timeout=2))
    assert "secret" not in pgindex.redact("postgresql://rag:secret@db.internal:5432/rag")


def test_api_over_the_database_index_and_a_database_outage(pg_settings, fake_embedder, pg_server) -> None:
    """The HTTP API answers from the database index; while the database is down a question gets 503 with
    Retry-After (not an answer, not a hang), a streamed one a retryable error event; then it answers again."""
    import httpx
    from serving import running, sse_events

    from rag.server import create_app

    index.build_index(pg_settings, fake_embedder)
    s = pg_settings.replace(refusal_threshold=0.1)

    assistant = Assistant(s, index.open_index(s), fake_embedder, FakeGenerator(well_behaved))
    question = {"question": "مع من تحدث سوليفان؟"}
    with running(create_app(s, assistant, ui=False)) as url:
        health = httpx.get(f"{url}/api/health").json()
        assert health["status"] == "ok" and health["index"]["articles"] == 5 and health["index"]["store"] == "pgvector"
        first = httpx.post(f"{url}/api/ask", json=question, timeout=30)
        assert first.status_code == 200 and first.json()["citations"][0]["doc_id"].startswith("000")
        pg_server.stop()
        try:
            unhealthy = httpx.get(f"{url}/api/health", timeout=30)
            assert unhealthy.status_code == 503 and "try again" in unhealthy.json()["error"]
            down = httpx.post(f"{url}/api/ask", json={"question": "ومتى جرى الاتصال بين الطرفين؟"}, timeout=30)
            assert down.status_code == 503 and "try again" in down.json()["error"] and int(down.headers["Retry-After"]) > 0
            with httpx.stream("POST", f"{url}/api/ask", json={"question": "ماذا قال بيرنز؟", "stream": True}, timeout=30) as r:
                events = sse_events(r.iter_lines())
            assert events[-1][0] == "error" and events[-1][1]["retryable"] is True
        finally:
            pg_server.start()
        assert httpx.get(f"{url}/api/health", timeout=30).status_code == 200
        again = httpx.post(f"{url}/api/ask", json=question, timeout=30)
        assert again.status_code == 200 and again.json()["answer"] == first.json()["answer"]


def test_a_replica_started_while_the_database_is_down_comes_up_with_it(pg_settings, fake_embedder, pg_server, monkeypatch) -> None:
    import httpx
    from serving import running

    from rag import server

    index.build_index(pg_settings, fake_embedder)
    s = pg_settings.replace(refusal_threshold=0.1)
    monkeypatch.setattr(server, "load_assistant", lambda settings: Assistant(settings, index.open_index(settings), fake_embedder, FakeGenerator(well_behaved)))
    monkeypatch.setattr(server.Service, "RELOAD_EVERY", 0.0)
    pg_server.stop()
    try:
        with running(server.create_app(s, ui=False)) as url:
            down = httpx.get(f"{url}/api/health", timeout=30)
            assert down.status_code == 503 and "try again" in down.json()["error"]
            pg_server.start()
            assert httpx.get(f"{url}/api/health", timeout=30).status_code == 200
            answer = httpx.post(f"{url}/api/ask", json={"question": "مع من تحدث سوليفان؟"}, timeout=30)
            assert answer.status_code == 200 and answer.json()["citations"]
    finally:
        pg_server.start()

"""The pipeline over a second corpus unlike the news seeds: three ARCD articles (Wikipedia,
tests/data/arcd/) with their crowd-written questions and gold spans. Fakes first, then the real models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeGenerator, well_behaved

from rag import index
from rag.answering import Assistant
from rag.evaluation import token_f1
from rag.retrieval import Retriever
from rag.settings import Settings

DATA = Path(__file__).parent / "data" / "arcd"
QUESTIONS = [json.loads(line) for line in (DATA / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
TITLES = {"arcd_0": "القمر", "arcd_1": "مكة", "arcd_2": "شاكيرا"}


def _settings(tmp_path: Path) -> Settings:
    return Settings.load({"corpus_dir": DATA, "index_dir": tmp_path / "index", "model_dir": tmp_path / "models"}, environ={})


def _doc(hit_doc_id: str) -> str:
    return hit_doc_id.split("_")[0] + "_" + hit_doc_id.split("_")[1]


def test_a_second_corpus_is_indexed_with_its_titles_and_no_invented_dates(tmp_path, fake_embedder) -> None:
    s = _settings(tmp_path)
    report = index.build(s.corpus_dir, s.index_dir, fake_embedder, "fake", 60, 1)
    assert report.documents == 3 and not report.skipped  # the README beside the articles is not an article
    built = index.load(s.index_dir)
    titles = {_doc(c.doc_id): c.title for c in built.chunks}
    assert titles == TITLES and all(c.date is None for c in built.chunks)  # Wikipedia paragraphs carry no date line


def test_a_cited_answer_over_the_second_corpus_comes_from_the_article_the_question_is_about(tmp_path, fake_embedder) -> None:
    s = _settings(tmp_path)
    index.build(s.corpus_dir, s.index_dir, fake_embedder, "fake", 60, 1)
    built = index.load(s.index_dir)
    retriever = Retriever(built, fake_embedder)
    found = sum(q["doc"] in {_doc(h.chunk.doc_id) for h in retriever.search(q["question"], 3)} for q in QUESTIONS)
    assert found >= 0.7 * len(QUESTIONS)  # a bag of words finds most articles by their shared words

    a = Assistant(s.replace(refusal_threshold=0.1), built, fake_embedder, FakeGenerator(well_behaved))
    answer = a.ask("ما هو القمر؟")
    assert not answer.refused and answer.citations[0].doc_id.startswith("arcd_0") and answer.citations[0].title == "القمر"
    assert answer.citations[0].supported and answer.language == "ar"


@pytest.mark.models
def test_real_models_answer_the_second_corpus_from_the_right_article(tmp_path, real_settings, real_embedder, real_assistant) -> None:
    s = real_settings.replace(corpus_dir=DATA, index_dir=tmp_path / "index")
    index.build(s.corpus_dir, s.index_dir, real_embedder, s.embedding_model, s.chunk_tokens, s.chunk_overlap)
    built = index.load(s.index_dir)
    retriever = Retriever(built, real_embedder)
    top = [q["doc"] == _doc(retriever.search(q["question"], 1)[0].chunk.doc_id) for q in QUESTIONS]
    assert sum(top) >= 0.9 * len(QUESTIONS)
    a = Assistant(s, built, real_embedder, real_assistant.generator)
    asked = QUESTIONS[::5]  # six questions, over the three articles
    answers = [a.ask(q["question"]) for q in asked]
    for q, answer in zip(asked, answers, strict=True):
        assert answer.language == "ar"
        assert answer.refused or {_doc(c.doc_id) for c in answer.citations} <= {q["doc"]}  # never cites another article
    assert sum(not x.refused for x in answers) >= 4  # every question is answerable
    # a gold span, or most of one (token F1: the quote design copies the shortest phrase, the crowd's answers are longer)
    assert sum(not x.refused and token_f1(x.answer, [q["answers"]], "ar") >= 0.5 for q, x in zip(asked, answers, strict=True)) >= 2

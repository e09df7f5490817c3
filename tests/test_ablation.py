"""Measuring the answer path: mechanisms switched off (the `ablate` setting), the retrieval
mode that fuses BM25 only for a question in the articles' script, and generations kept by
prompt for reruns (rag.evaluation.KeptGenerations). Deterministic fakes."""

from __future__ import annotations

import pytest
from conftest import FakeGenerator

from rag.answering import Assistant
from rag.errors import RagError
from rag.evaluation import KeptGenerations
from rag.generation import Usage
from rag.retrieval import Retriever
from rag.settings import MECHANISMS, Settings

HISTORY = [{"role": "user", "content": "مع من تحدث سوليفان؟"}, {"role": "assistant", "content": "مع أوشاكوف [1]."}]


def _make(settings, fake_index, fake_embedder, respond, **overrides):
    s = settings.__class__(**{**settings.__dict__, "refusal_threshold": 0.1, "answer_step": "passages", **overrides})
    return Assistant(s, fake_index, fake_embedder, FakeGenerator(respond))


def _first_passage(messages) -> str:
    first = next(line for line in messages[-1]["content"].splitlines() if line.startswith("[1] "))
    return first[4:].split(" … ")[0] + " [1]"


def test_every_mechanism_name_is_a_setting_value_and_unknown_ones_are_refused() -> None:
    assert Settings.load({"ablate": ",".join(MECHANISMS)}, environ={}).ablate
    with pytest.raises(RagError):
        Settings.load({"ablate": "glossary,nonsense"}, environ={})


def test_with_follow_up_joining_off_the_earlier_question_reaches_neither_retrieval_nor_prompt(settings, fake_index, fake_embedder) -> None:
    on = _make(settings, fake_index, fake_embedder, _first_passage)
    off = _make(settings, fake_index, fake_embedder, _first_passage, ablate="followup_join")
    assert "Earlier question" in on.prepare("ولماذا؟", HISTORY).messages[-1]["content"]
    prepared = off.prepare("ولماذا؟", HISTORY)
    assert prepared.query == "ولماذا؟" and "Earlier question" not in prepared.messages[-1]["content"]


def test_with_the_glossary_off_an_english_prompt_carries_no_spellings(settings, fake_index, fake_embedder) -> None:
    on = _make(settings, fake_index, fake_embedder, _first_passage, name_similarity=0.0)
    off = _make(settings, fake_index, fake_embedder, _first_passage, name_similarity=0.0, ablate="glossary")
    assert on.prepare("Who did Sullivan talk to?").glossary
    prepared = off.prepare("Who did Sullivan talk to?")
    assert prepared.glossary == {} and prepared.messages[0] == on.prepare("Who did Sullivan talk to?").messages[0]  # still the English system message


def test_with_completion_off_an_answer_that_only_points_is_not_completed(settings, fake_index, fake_embedder) -> None:
    on = _make(settings, fake_index, fake_embedder, lambda m: "[1]").ask("مع من تحدث سوليفان؟")
    off = _make(settings, fake_index, fake_embedder, lambda m: "[1]", ablate="completion").ask("مع من تحدث سوليفان؟")
    # an answer that only points at a passage: completed with its sentence, or (off) nothing to show
    assert not on.refused and "«" in on.answer and off.refused


def test_script_retrieval_fuses_bm25_for_arabic_questions_and_stays_dense_for_english_ones(fake_index, fake_embedder) -> None:
    script, dense, hybrid = (Retriever(fake_index, fake_embedder, m) for m in ("script", "dense", "hybrid"))
    for question in ("Who did Sullivan talk to?", "What did Austin urge Shoigu to do?"):
        assert [h.row for h in script.search(question, 5)] == [h.row for h in dense.search(question, 5)]
    arabic = "مع من تحدث سوليفان؟"
    assert [h.row for h in hybrid.search(arabic, 5)] != [h.row for h in dense.search(arabic, 5)]  # the two differ here
    assert [h.row for h in script.search(arabic, 5)] == [h.row for h in hybrid.search(arabic, 5)]
    with pytest.raises(ValueError):
        Retriever(fake_index, fake_embedder, "lexical")


def test_kept_generations_replay_a_prompt_without_the_model_and_keep_only_finished_ones(tmp_path) -> None:
    model = FakeGenerator(lambda m: "one two three")
    path = tmp_path / "generations.jsonl"
    settings = Settings.load(environ={})
    kept = KeptGenerations(model, path, settings)
    prompt = [{"role": "user", "content": "q"}]
    first = list(kept.stream(prompt, 10))
    again = list(KeptGenerations(model, path, settings).stream(prompt, 10))  # a new run reads the file
    assert again == first and isinstance(again[-1], Usage) and len(model.calls) == 1
    assert list(kept.stream(prompt, 11)) and len(model.calls) == 2  # another limit is another generation
    closed = kept.stream([{"role": "user", "content": "other"}], 10)
    next(closed)
    closed.close()  # stopped early (a loop stopper): not kept
    list(kept.stream([{"role": "user", "content": "other"}], 10))
    assert len(model.calls) == 4

"""The answer checks, step by step (rag.checks), on passages of the fake index."""

from __future__ import annotations

import pytest

from rag import checks
from rag.checks import STEPS, AnswerChecks, Checked
from rag.retrieval import Passage


@pytest.fixture
def passages(fake_index) -> list[Passage]:
    chunks = [c for c in fake_index.chunks if "أوشاكوف" in c.text][:1] + [c for c in fake_index.chunks if "أنقرة" in c.text][:1]
    return [Passage(n, c, tuple(range(len(c.sentences))), 0.5) for n, c in enumerate(chunks, 1)]


@pytest.fixture
def run(fake_index, fake_embedder):
    def go(written: str, passages: list[Passage], question: str = "مع من تحدث سوليفان؟", off: frozenset[str] = frozenset(), **kw) -> Checked:
        state = Checked(question, kw.pop("context", ""), kw.pop("language", "ar"), passages, kw.pop("glossary", {}), kw.pop("weak", False), written)
        return AnswerChecks(fake_index, fake_embedder, off).run(state)

    return go


def _step(name: str):
    return dict(STEPS)[name]


def test_the_steps_run_in_their_documented_order() -> None:
    assert [name for name, _ in STEPS] == ["markers", "names", "completion", "refusal", "citations", "withdrawal", "clickable"]


def test_markers_to_no_passage_are_dropped(passages, fake_index, fake_embedder) -> None:
    state = Checked("?", "", "ar", passages, {}, False, "تحدث مع أوشاكوف [1] [7].")
    out = _step("markers")(AnswerChecks(fake_index, fake_embedder), state)
    assert out.written == out.text == "تحدث مع أوشاكوف [1]."


def test_an_answer_that_only_points_is_completed_with_the_closest_sentence_of_what_it_points_at(run, passages) -> None:
    out = run("[2]", passages, "أين جرت المحادثات؟")
    assert out.completed and not out.refused and "«" in out.text and out.text.endswith("» [2]")
    assert [c.n for c in out.citations] == [2] and out.citations[0].supported
    off = run("[2]", passages, "أين جرت المحادثات؟", off=frozenset({"completion"}))
    assert off.refused  # nothing said, nothing to complete it with


def test_the_refusal_marker_refuses_whatever_came_before_it(run, passages) -> None:
    assert run("تحدث سوليفان [1]\nNOT_IN_SOURCES", passages).refused
    assert run("", passages).refused


def test_a_claim_the_passage_does_not_make_is_withdrawn_on_weak_evidence_only(run, passages) -> None:
    claim = "تحدث سوليفان مع وزير الخارجية الصيني وانغ يي 17 مرة [1]."
    strong = run(claim, passages)
    assert not strong.refused and strong.citations and not strong.citations[0].supported  # shown, marked unverified
    assert run(claim, passages, weak=True).refused
    assert not run(passages[0].chunk.text[slice(*passages[0].chunk.sentences[0])] + " [1]", passages, weak=True).refused  # a stated claim stays


def test_citations_found_by_matching_get_clickable_markers(run, passages) -> None:
    sentence = passages[0].chunk.text[slice(*passages[0].chunk.sentences[0])]
    out = run(sentence, passages)
    assert out.citations and out.text.endswith(f"[{out.citations[0].n}]")


def test_an_english_answer_shows_a_heard_name_with_its_arabic(run, passages) -> None:
    from rag import names

    glossary = names.glossary("يوري أوشاكوف", [])
    out = run("Sullivan spoke with Yuri Ushakov [1].", passages, "Who did Sullivan talk to?", language="en", glossary=glossary)
    assert "Yuri Ushakov (يوري أوشاكوف)" in out.text


@pytest.mark.parametrize(("draft", "shown"), [
    ("تحدث سوليفان مع أوشاكوف وباتروشيف [1", "تحدث سوليفان مع أوشاكوف وباتروشيف"),  # a marker being written waits
    ("NOT_IN_SOU", ""),  # the refusal marker being written
    ("مع من تحدث سوليفان", ""),  # only the question's words so far
])
def test_streaming_shows_only_what_the_checks_will_not_take_back(draft: str, shown: str) -> None:
    assert checks.AnswerChecks.visible(draft, False, {}, " مع من تحدث سوليفان؟", False).strip() == shown
    assert checks.AnswerChecks.visible(draft, True, {}, " مع من تحدث سوليفان؟", False) == ""  # weak evidence: nothing before the checks


def test_a_step_switched_off_is_skipped(run, passages) -> None:
    sentence = passages[0].chunk.text[slice(*passages[0].chunk.sentences[0])]
    assert not run(sentence, passages, off=frozenset({"clickable"})).text.endswith("]")

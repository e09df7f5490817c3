"""Built unanswerable questions (eval/negatives.py): what states a question's answer is taken
out of the index, the rest stays, and a question is kept only when its answer is stated nowhere
else. Deterministic fakes over the seed articles."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import FakeGenerator

from rag.answering import Assistant
from rag.evaluation import load_questions
from rag.text import normalize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))
import negatives  # noqa: E402

DEV = Path(__file__).resolve().parent.parent / "eval" / "dev.jsonl"


def test_a_negative_leaves_out_what_states_its_answer_and_nothing_else(fake_index) -> None:
    questions = [q for q in load_questions(DEV) if q.language == "ar"]
    built = negatives.negatives("dev", fake_index, questions)
    assert built and all(n.question.answerable for n in built)
    for n in built[:10]:
        kept = [c for r, c in enumerate(fake_index.chunks) if r not in n.rows]
        stated = [normalize(a) for group in n.question.answers for a in group if normalize(a)]
        assert not any(a in normalize(c.text) for a in stated for c in kept)  # no remaining chunk states it
        gone = " ".join(fake_index.chunks[r].text for r in n.rows)
        assert any(normalize(e)[:40] in normalize(gone) for e in n.question.evidence)


def test_without_an_index_never_returns_the_chunks_left_out(fake_index, fake_embedder, settings) -> None:
    q = "ماذا طلب أوستن من شويغو؟"
    vector = fake_embedder.embed_query(q)
    best = [r for r, _ in fake_index.search(vector, 3)]
    gaps = negatives.Without(fake_index, set(best))
    assert not set(best) & {r for r, _ in gaps.search(vector, 5)} and len(gaps.search(vector, 5)) == 5
    gaps.leave_out(set())
    assert [r for r, _ in gaps.search(vector, 3)] == best
    removed = fake_index.chunks[best[0]].sentence_texts()[0]
    gaps.leave_out({best[0]})
    assert gaps.sentence_vector(removed) is None
    # the assistant over it prepares from what is left, without its model
    a = Assistant(settings.replace(refusal_threshold=0.0), gaps, fake_embedder, FakeGenerator(lambda m: "?"))
    s = negatives.signals(a, q, [])
    assert set(s) == set(negatives.FEATURES) and a.generator.calls == []

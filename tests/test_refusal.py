"""The refusal decided before the model runs (rag.refusal): its signals come from the ranked quote,
and the fitted decision moves the way its weights say."""

from rag import refusal
from rag.quoting import QuoteRanker
from rag.retrieval import Retriever


def _fit(**coef: float) -> refusal.Fit:
    n = len(refusal.FEATURES)
    return refusal.Fit((0.0,) * n, (1.0,) * n, tuple(coef.get(f, 0.0) for f in refusal.FEATURES), 0.0, 0.5)


def test_signals_are_the_quotes_features_and_its_lead(fake_index, fake_embedder) -> None:
    ranker = QuoteRanker(fake_index.chunks)
    q = "ماذا طلب أوستن من شويغو؟"
    qvec = fake_embedder.embed_query(q)
    hits = Retriever(fake_index, fake_embedder).search(q, 5, qvec)
    cands = ranker.rank(q, fake_index.sentence_vectors_of([h.row for h in hits]), hits, qvec)
    s = refusal.signals(cands, 0.42)
    assert set(s) == set(refusal.FEATURES) and s["best"] == 0.42
    assert s["sim"] == cands[0].similarity and s["lead"] == cands[0].score - cands[1].score >= 0
    assert refusal.signals([], 0.0) == dict.fromkeys(refusal.FEATURES, 0.0)


def test_the_fitted_decision_follows_its_weights() -> None:
    fit = _fit(best=-2.0, no_kind=1.5)
    close = dict.fromkeys(refusal.FEATURES, 0.0) | {"best": 0.9}
    far = close | {"best": -0.9, "no_kind": 1.0}
    assert fit.probability(far) > 0.5 > fit.probability(close)
    assert fit.refuses(far) and not fit.refuses(close)


def test_every_answer_reports_its_doubt_and_a_doubt_threshold_refuses_before_the_model(settings, fake_index, fake_embedder) -> None:
    from conftest import FakeGenerator, well_behaved

    from rag.answering import REFUSALS, Assistant

    question = "ماذا طلب أوستن من شويغو؟"
    answered = Assistant(settings.replace(refusal_threshold=0.1), fake_index, fake_embedder, FakeGenerator(well_behaved)).ask(question)
    assert not answered.refused and answered.doubt is not None and 0.0 < answered.doubt < 1.0
    assert answered.to_json()["doubt"] == answered.doubt
    strict = Assistant(settings.replace(refusal_threshold=0.1, refusal_doubt=answered.doubt), fake_index, fake_embedder, FakeGenerator(well_behaved))
    refused = strict.ask(question)
    assert refused.refused and refused.answer == REFUSALS["ar"] and strict.generator.calls == []
    assert refused.doubt == answered.doubt and refused.quote is not None  # the closest sentence, for the reader to judge by
    lenient = Assistant(settings.replace(refusal_threshold=0.1, refusal_doubt=min(1.0, answered.doubt + 0.01)), fake_index, fake_embedder, FakeGenerator(well_behaved))
    assert not lenient.ask(question).refused


def _written_refuses(messages) -> str:
    """A model that refuses in the passages design and copies as asked from a quote."""
    from conftest import well_behaved

    from rag.prompting import NOT_FOUND

    return NOT_FOUND if any(line.startswith("[1] ") for line in messages[-1]["content"].splitlines()) else well_behaved(messages)


def _passages_asked(generator) -> bool:
    return any(line.startswith("[1] ") for call in generator.calls for line in call[-1]["content"].splitlines())


def test_a_doubtful_answer_is_given_only_if_the_written_answer_does_not_refuse(settings, fake_index, fake_embedder) -> None:
    from conftest import FakeGenerator, well_behaved

    from rag.answering import REFUSALS, Answer, Assistant
    from rag.quoting import Quote

    question = "ماذا طلب أوستن من شويغو؟"
    checked = Assistant(settings.replace(refusal_threshold=0.1, refusal_check=0.0), fake_index, fake_embedder, FakeGenerator(_written_refuses))
    events = list(checked.stream(question))
    answer = events[-1]
    assert isinstance(events[0], Quote) and isinstance(answer, Answer)  # the quote is shown before the check
    assert answer.refused and answer.answer == REFUSALS["ar"] and answer.quote is not None and _passages_asked(checked.generator)
    # the written answer does not refuse: the quote's phrase is the answer
    kept = Assistant(settings.replace(refusal_threshold=0.1, refusal_check=0.0), fake_index, fake_embedder, FakeGenerator(well_behaved)).ask(question)
    assert not kept.refused and kept.quote is not None and kept.quote.phrase and kept.citations[0].n == kept.quote.n
    # below the check's doubt nothing is checked
    unchecked = Assistant(settings.replace(refusal_threshold=0.1, refusal_check=min(1.0, answer.doubt + 0.01)), fake_index, fake_embedder, FakeGenerator(_written_refuses))
    assert not unchecked.ask(question).refused and not _passages_asked(unchecked.generator)


def test_the_warm_up_reads_the_checks_system_messages_when_it_checks(settings, fake_index, fake_embedder) -> None:
    from conftest import FakeGenerator, well_behaved

    from rag import prompting
    from rag.answering import Assistant

    def systems(check: float) -> set[str]:
        a = Assistant(settings.replace(refusal_check=check), fake_index, fake_embedder, FakeGenerator(well_behaved))
        a.warm()
        return {call[0]["content"] for call in a.generator.calls}

    written = {prompting.answer_messages("?", [])[0]["content"], prompting.answer_messages("?", [], names={})[0]["content"]}
    assert written <= systems(0.5) and not written & systems(1.0)


def test_risk_and_coverage_keep_the_least_doubtful_answers_first() -> None:
    from rag.evaluation import risk_coverage

    rows = [{"doubt": d, "refused": False, "answerable": a, "correct": c} for d, a, c in
            [(0.1, True, True), (0.2, True, True), (0.3, True, False), (0.9, False, False), (0.5, True, True)]]
    rows.append({"doubt": 0.05, "refused": True, "answerable": False, "correct": True})  # refused: not on the curve
    curve = dict((c, (a, d)) for c, a, d in risk_coverage(rows, (1.0, 0.6, 0.4)))
    assert curve[1.0] == (3 / 5, 0.9)  # the unanswerable question answered counts as wrong
    assert curve[0.6] == (2 / 3, 0.3) and curve[0.4] == (1.0, 0.2)

import pytest

from rag.evaluation import alias_present, answer_correct, citation_precision, load_questions, mrr, percentile, recall_at, retrieval_ranks
from rag.settings import Settings


@pytest.mark.parametrize(
    ("alias", "text", "expected"),
    [
        ("أوشاكوف", "تحدث مع يوري أوشاكوف", True),
        ("أوشاكوف", "تحدث مع يوري اوشاكوف", True),  # hamza folded
        ("غيراسيموف", "رئيسُ الأركانِ فاليري غيراسيموفَ", True),  # diacritics
        ("2014", "عام ٢٠١٤", True),  # Eastern digits
        ("US", "Russia said", False),  # Latin aliases match whole words only
        ("US", "the US side", True),
        ("Ushakov", "USHAKOV", True),
        ("New START", "the new start treaty", True),
        ("شويغو", "شويجو", False),  # a spelling variant needs its own alias
        ("ساخن", "خطاً ساخناً", True),
        ("", "anything", False),
    ],
)
def test_alias_present(alias: str, text: str, expected: bool) -> None:
    assert alias_present(alias, text) is expected


def test_answer_correct_needs_every_group() -> None:
    groups = [["Ushakov", "أوشاكوف"], ["Patrushev", "باتروشيف"]]
    assert answer_correct("Ushakov and باتروشيف", groups)
    assert not answer_correct("Ushakov only", groups)
    assert not answer_correct("anything", [])


def test_english_answers_need_the_fact_in_english() -> None:
    groups = [["escalation", "صراع أوسع"], ["23"]]
    assert answer_correct("صراع أوسع ٢٣", groups, "ar")
    assert not answer_correct("To avoid a صراع أوسع, 23 times", groups, "en")
    assert answer_correct("To avoid escalation [1], 23 times", groups, "en")


def test_retrieval_metrics() -> None:
    ranks = [retrieval_ranks(["a"], ["a", "b"]), retrieval_ranks(["a"], ["b", "c", "a"]), retrieval_ranks(["a"], ["b"])]
    assert ranks == [1, 3, None]
    assert recall_at(ranks, 1) == pytest.approx(1 / 3)
    assert recall_at(ranks, 3) == pytest.approx(2 / 3)
    assert mrr(ranks) == pytest.approx((1 + 1 / 3) / 3)
    assert recall_at([], 5) == 0.0


def test_citation_precision() -> None:
    assert citation_precision(["نص فيه أوشاكوف هنا", "نص آخر"], ["فيه اوشاكوف"]) == 0.5
    assert citation_precision([], ["x"]) is None


def test_percentile() -> None:
    assert percentile([5, 1, 3], 50) == 3
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9
    assert percentile([], 50) == 0.0


def test_dev_and_test_sets_are_well_formed_grounded_and_apart() -> None:
    """Every gold evidence string occurs in a gold article; each set covers what it must; no question is in both."""
    from collections import Counter

    from conftest import SEEDS

    from rag.documents import load_corpus
    from rag.evaluation import SETS
    from rag.text import normalize

    dev, test = load_questions(SETS["dev"]), load_questions(SETS["test"])
    docs = {d.doc_id: normalize(d.text) for d in load_corpus(SEEDS)[0]}
    for questions, least in ((dev, 60), (test, 80)):
        assert len(questions) >= least and len({q.id for q in questions}) == len(questions)
        langs = Counter(q.language for q in questions)
        assert min(langs.values()) >= 0.4 * len(questions)
        assert sum(not q.answerable for q in questions) >= 10
        assert sum(len(q.doc_ids) > 1 for q in questions) >= 4
        for q in questions:
            for doc_id in q.doc_ids:
                assert any(normalize(e) in docs[doc_id] for e in q.evidence), (q.id, doc_id)
    assert not {q.id for q in dev} & {q.id for q in test}
    assert not {(q.question, str(q.history)) for q in dev} & {(q.question, str(q.history)) for q in test}
    assert sum(not q.answerable for q in test) >= 12
    for lang in ("ar", "en"):  # bare follow-ups, yes/no and lists across articles in each language
        assert sum(q.language == lang and bool(q.history) for q in test) >= 5
        assert sum(q.language == lang and q.category == "yes-no" for q in test) >= 2
        assert sum(q.language == lang and q.category == "multi-doc" for q in test) >= 2


def test_the_test_set_is_reported_as_totals_only(tmp_path, monkeypatch) -> None:
    """A run over dev and test writes dev's per-question results, and of test only totals."""
    import argparse
    import json

    from rag import evaluation

    def fake_run(settings, questions, retrieval_only, progress=True, generator=None, embedder=None):
        results = [{"id": q.id, "language": q.language, "category": q.category, "question": q.question, "answerable": q.answerable,
                    "answer": "x", "refused": not q.answerable, "correct": q.id.endswith(("1", "3")), "evidence_in_prompt": True,
                    "citation_precision": 1.0, "citation_recall": 1.0, "faithfulness": 1.0, "ttft_ms": 1, "total_ms": 2, "prompt_tokens": 3,
                    "rank_dense": 1, "rank_bm25": 1, "rank_hybrid": 1} for q in questions]
        return {"results": results, "summary": evaluation.summarize(results, retrieval_only)}

    monkeypatch.setattr(evaluation, "run", fake_run)
    monkeypatch.setattr(evaluation, "plot", lambda data, path: None)
    args = argparse.Namespace(questions=None, out=str(tmp_path), sets="dev,test", retrieval_only=False, ids="", limit=0)
    assert evaluation.main(Settings.load(environ={}), args) == 0
    assert (tmp_path / "dev" / "results.json").exists() and "t01" not in (tmp_path / "dev" / "results.json").read_text()
    written = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file() and p.parent.name != "dev")
    test_ids = [q.id for q in load_questions(evaluation.SETS["test"])]
    assert not any(f'"{i}"' in written or f"| {i} |" in written for i in test_ids)  # no test question named anywhere
    assert not any(q.question in written for q in load_questions(evaluation.SETS["test"]))
    totals = json.loads((tmp_path / "test" / "totals.json").read_text())
    assert set(totals) <= set(evaluation.TOTALS) and totals["all"]["n"] == len(test_ids)
    report = (tmp_path / "report.md").read_text()
    assert "| accuracy |" in report and "test ar" in report and "dev en" in report


def test_failure_reasons() -> None:
    from rag.evaluation import evidence_shown, failure_reason

    assert evidence_shown(["قال إن سوليفان تحدث مع أوشاكوف."], ["سوليفان تحدث مع أوشاكوف"])
    assert not evidence_shown(["نص آخر"], ["سوليفان"])
    base = {"answerable": True, "refused": False, "evidence_in_prompt": True, "citation_precision": 1.0, "language": "ar"}
    assert "do not answer" in failure_reason({**base, "answerable": False})
    assert "refused although" in failure_reason({**base, "refused": True})
    assert "not among" in failure_reason({**base, "evidence_in_prompt": False})
    assert "without the evidence" in failure_reason({**base, "citation_precision": 0})
    assert "English" in failure_reason({**base, "language": "en"})


def _squad(path, articles) -> None:
    import json

    def qa(n: int, text: str) -> dict:
        return {"id": str(n), "question": f"سؤال {n}؟", "answers": [{"text": text, "answer_start": 0}, {"text": text, "answer_start": 0}]}

    path.write_text(json.dumps({"data": [{"title": title, "paragraphs": [{"context": context, "qas": [qa(n, span) for n, span in qas]}]}
                                         for title, context, qas in articles]}, ensure_ascii=False), encoding="utf-8")


def test_a_squad_file_becomes_a_corpus_and_a_question_set(tmp_path) -> None:
    from rag import benchmarks
    from rag.documents import load_corpus

    source = tmp_path / "arcd.json"
    _squad(source, [("مصر", "مصر دولة عربية. عاصمتها القاهرة.", [(1, "(القاهرة،"), (2, "دولة عربية")]),
                    ("توحد", "التوحد اضطراب نمائي.", [(3, "اضطراب نمائي."), (4, "نمائي")])])
    entries = benchmarks.squad_questions(source, "arcd", "ar")
    chosen = benchmarks.sample(entries, 2)
    assert [q["id"] for q in chosen] == ["arcd-1", "arcd-3"] and len(benchmarks.sample(entries, 0)) == 4  # evenly spread
    assert chosen[0]["answers"] == [["القاهرة"]] and chosen[0]["doc_ids"] == ["arcd_000"]  # punctuation around the span dropped, duplicates too
    benchmarks.write_corpus(source, tmp_path / "corpus", "arcd")
    docs, skipped = load_corpus(tmp_path / "corpus")
    assert not skipped and [d.title for d in docs] == ["مصر - ويكيبيديا", "توحد - ويكيبيديا"]  # a one-word title is not taken for chrome
    assert "عاصمتها القاهرة" in docs[0].text


def test_parallel_english_questions_keep_the_arabic_spans_as_evidence(tmp_path) -> None:
    from rag import benchmarks

    arabic, english = tmp_path / "ar.json", tmp_path / "en.json"
    _squad(arabic, [("مصر", "عاصمتها القاهرة.", [(1, "القاهرة")])])
    _squad(english, [("Egypt", "Its capital is Cairo.", [(1, "Cairo")])])
    q = benchmarks.squad_questions(english, "xquad", "en", evidence_from=arabic)[0]
    assert q["language"] == "en" and q["answers"] == [["Cairo"]] and q["evidence"] == ["القاهرة"] and q["doc_ids"] == ["xquad_000"]


def test_the_shared_outside_sets_are_what_their_readmes_say() -> None:
    from rag import benchmarks

    for name, size in (("arcd", 702), ("xquad", 612), ("xquad_en", 612)):
        o = benchmarks.OUTSIDE[name]
        entries = benchmarks.squad_questions(o.questions_from, o.corpus, o.language, o.source if o.questions_from != o.source else None)
        assert len(entries) == size and len(benchmarks.sample(entries, o.sample)) == o.sample
    ar = benchmarks.sample(benchmarks.squad_questions(benchmarks.OUTSIDE["xquad"].source, "xquad", "ar"), 100)
    en = benchmarks.sample(benchmarks.squad_questions(benchmarks.OUTSIDE["xquad_en"].questions_from, "xquad", "en", benchmarks.OUTSIDE["xquad"].source), 100)
    assert [q["id"] + "-en" for q in ar] == [q["id"] for q in en]  # the same questions in both languages
    assert all(q["evidence"] == a["answers"][0] for q, a in zip(en, ar, strict=True))


@pytest.mark.parametrize(("answer", "groups", "language", "f1"), [
    ("عاصمتها القاهرة [1]", [["القاهرة"]], "ar", 2 / 3),
    ("القاهرة", [["القاهرة", "مدينة القاهرة"]], "ar", 1.0),
    ("الجيزة", [["القاهرة"]], "ar", 0.0),
    ("Yuri Ushakov (يوري أوشاكوف) [1]", [["Ushakov", "أوشاكوف"]], "en", 2 / 3),  # the Arabic beside a name is a gloss, not a claim
    ("the national anthem", [["national anthem"]], "en", 1.0),  # articles do not count
    ("أوشاكوف باتروشيف", [["أوشاكوف"], ["باتروشيف"]], "ar", 1.0),  # every group, joined
    ("أوشاكوف", [["أوشاكوف"], ["باتروشيف"]], "ar", 2 / 3),
    ("", [["القاهرة"]], "ar", 0.0),
])
def test_token_f1(answer: str, groups: list[list[str]], language: str, f1: float) -> None:
    from rag.evaluation import token_f1

    assert token_f1(answer, groups, language) == pytest.approx(f1)


def test_exact_match_and_quote_holds() -> None:
    from rag.evaluation import exact_match, quote_holds

    assert exact_match("القاهرة.", [["القاهرة"]]) and exact_match("The Cairo [1]", [["Cairo"]], "en") and not exact_match("مدينة القاهرة", [["القاهرة"]])
    assert quote_holds("وعاصمتها القاهرة منذ قرون.", ["القاهرة"]) and quote_holds("عاصمتها", ["وعاصمتها القاهرة"]) and not quote_holds("الجيزة", ["القاهرة"])
    assert not quote_holds("", ["القاهرة"])


def test_english_arcd_questions_match_the_benchmark() -> None:
    """Each English question is an ARCD question put into English: its id, article and gold spans are the benchmark's,
    and it is judged by English answers only (an English answer quoting the Arabic span does not count)."""
    import json

    from rag import benchmarks

    o = benchmarks.OUTSIDE["arcd_en"]
    data = json.loads(o.source.read_text(encoding="utf-8"))["data"]
    asked = {f"arcd-{qa['id']}": (f"arcd_{number:03d}", paragraph["context"], qa) for number, article in enumerate(data)
             for paragraph in article["paragraphs"] for qa in paragraph["qas"]}
    english = load_questions(o.questions_from)
    assert len(english) >= 40 and len({q.id for q in english}) == len(english)
    for q in english:
        doc_id, context, qa = asked[q.id.removesuffix("-en")]
        assert q.language == "en" and q.answerable and q.doc_ids == [doc_id], q.id
        assert q.evidence and all(span in context for span in q.evidence), q.id
        assert all(group and all(not any("\u0600" <= ch <= "\u06ff" for ch in alias) for alias in group) for group in q.answers), q.id

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

    def fake_run(settings, questions, retrieval_only, progress=True, generator=None):
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


def test_arcd_becomes_a_corpus_and_a_question_set(tmp_path) -> None:
    import json
    import sys

    from rag.documents import load_corpus
    from rag.evaluation import REPO_ROOT

    sys.path.insert(0, str(REPO_ROOT / "eval"))
    import arcd

    def qa(n: int, text: str) -> dict:
        return {"id": str(n), "question": f"سؤال {n}؟", "answers": [{"text": text, "answer_start": 0}, {"text": text, "answer_start": 0}]}

    source = tmp_path / "arcd.json"
    source.write_text(json.dumps({"data": [
        {"title": "مصر", "paragraphs": [{"context": "مصر دولة عربية. عاصمتها القاهرة.", "qas": [qa(1, "(القاهرة،"), qa(2, "دولة عربية")]}]},
        {"title": "توحد", "paragraphs": [{"context": "التوحد اضطراب نمائي.", "qas": [qa(3, "اضطراب نمائي."), qa(4, "نمائي")]}]},
    ]}, ensure_ascii=False), encoding="utf-8")
    questions = load_questions(arcd.prepare(source, tmp_path / "work", 2))
    assert [q.id for q in questions] == ["arcd-1", "arcd-3"]  # evenly spread
    assert len(load_questions(arcd.prepare(source, tmp_path / "all", 0))) == 4
    assert questions[0].answers == [["القاهرة"]] and questions[0].doc_ids == ["arcd_000"]  # punctuation around the span dropped, duplicates too
    docs, skipped = load_corpus(tmp_path / "work" / "corpus")
    assert not skipped and [d.title for d in docs] == ["مصر - ويكيبيديا", "توحد - ويكيبيديا"]  # a one-word title is not taken for chrome
    assert "عاصمتها القاهرة" in docs[0].text
    assert arcd.token_f1("عاصمتها القاهرة [1]", ["القاهرة"]) == pytest.approx(2 / 3)
    assert arcd.token_f1("القاهرة", ["القاهرة", "مدينة القاهرة"]) == 1.0 and arcd.token_f1("الجيزة", ["القاهرة"]) == 0.0


def test_english_arcd_questions_match_the_benchmark() -> None:
    """Each English question is an ARCD question put into English: its id, article and gold spans are the benchmark's,
    and it is judged by English answers only (an English answer quoting the Arabic span does not count)."""
    import json
    import sys

    from rag.evaluation import REPO_ROOT

    sys.path.insert(0, str(REPO_ROOT / "eval"))
    import arcd

    data = json.loads(arcd.DEFAULT_SOURCE.read_text(encoding="utf-8"))["data"]
    asked = {f"arcd-{qa['id']}": (f"arcd_{number:03d}", paragraph["context"], qa) for number, article in enumerate(data)
             for paragraph in article["paragraphs"] for qa in paragraph["qas"]}
    english = load_questions(arcd.ENGLISH)
    assert len(english) >= 40 and len({q.id for q in english}) == len(english)
    for q in english:
        doc_id, context, qa = asked[q.id.removesuffix("-en")]
        assert q.language == "en" and q.answerable and q.doc_ids == [doc_id], q.id
        assert q.evidence and all(span in context for span in q.evidence), q.id
        assert all(group and all(not any("\u0600" <= ch <= "\u06ff" for ch in alias) for alias in group) for group in q.answers), q.id

"""The outside sets (ARCD, the shared XQuAD half) as corpora and question files, from the
files in ../shared/benchmarks: one corpus file per article, questions sampled evenly,
XQuAD's English questions scored on English answers with the Arabic spans as evidence."""

import json

from rag import benchmarks


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_xquad_becomes_one_file_per_article_and_an_even_sample(tmp_path) -> None:
    corpus, questions = benchmarks.prepare("xquad", tmp_path)
    articles = json.loads(benchmarks.OUTSIDE["xquad"].source.read_text(encoding="utf-8"))["data"]
    files = sorted(corpus.glob("xquad_*.txt"))
    assert len(files) == len(articles) == 24
    first = files[0].read_text(encoding="utf-8").splitlines()
    assert first[0].endswith("ويكيبيديا") and first[1] == articles[0]["paragraphs"][0]["context"].strip()
    asked = _lines(questions)
    assert len(asked) == 100 and len({q["doc_ids"][0] for q in asked}) > 12  # spread over the articles
    for q in asked:
        text = (corpus / f"{q['doc_ids'][0]}.txt").read_text(encoding="utf-8")
        assert q["language"] == "ar" and q["answers"][0] and any(a in text for a in q["answers"][0])


def test_english_xquad_questions_keep_the_arabic_spans_as_evidence(tmp_path) -> None:
    _, arabic = benchmarks.prepare("xquad", tmp_path)
    corpus, english = benchmarks.prepare("xquad_en", tmp_path)
    ar, en = _lines(arabic), _lines(english)
    assert [q["id"] + "-en" for q in ar] == [q["id"] for q in en]  # the same questions, in English
    for a, e in zip(ar, en, strict=True):
        assert e["language"] == "en" and e["evidence"] == a["answers"][0]
        assert all(not any("\u0600" <= ch <= "\u06ff" for ch in span) for span in e["answers"][0])  # scored on the translators' English


def test_a_larger_sample_is_written_beside_the_usual_one(tmp_path) -> None:
    _, usual = benchmarks.prepare("arcd", tmp_path)
    before = usual.read_text(encoding="utf-8")
    _, more = benchmarks.prepare("arcd", tmp_path, size=300)
    _, every = benchmarks.prepare("arcd", tmp_path, size=0)
    assert more != usual and len(_lines(more)) == 300 and len(_lines(every)) == 702
    assert usual.read_text(encoding="utf-8") == before and len(_lines(usual)) == 100


def test_sample_takes_every_kth() -> None:
    assert benchmarks.sample(list(range(10)), 3) == [0, 3, 6]
    assert benchmarks.sample(list(range(5)), 0) == list(range(5)) == benchmarks.sample(list(range(5)), 9)
    assert benchmarks.clean_span("(15 يناير 1918،") == "15 يناير 1918"

from pathlib import Path

import pytest

from rag.documents import clean, find_date, load_corpus
from rag.errors import CorpusError

ARTICLE = """#عاجل_خبر عن محادثات سرية
time reading iconدقائق القراءة - 5
علما روسيا والولايات المتحدة في جنيف - Bloomberg
علما روسيا والولايات المتحدة في جنيف - Bloomberg
الجمعة - 12 شوال 1443 هـ - 13 مايو 2022 مـ
gettyimages
وزير الدفاع الأميركي لويد أوستن (يسار) ونظيره الروسي سيرغي شويغو (إ.ب.أ)

قال المتحدث إن المحادثات جرت في أنقرة.

خبر عن محادثات سرية
وأضاف أن الجانبين ناقشا الاستقرار الاستراتيجي.
اقرأ أيضاً:
تصنيفات
أميركا أوكرانيا روسيا أخبار أميركا أخبار روسيا حرب أوكرانيا
فيديو
"""


def test_clean_removes_site_chrome_and_keeps_text() -> None:
    text, title, date = clean(ARTICLE)
    assert title == "خبر عن محادثات سرية"
    assert date == "2022-05-13"
    assert text.split("\n") == ["خبر عن محادثات سرية", "قال المتحدث إن المحادثات جرت في أنقرة.", "وأضاف أن الجانبين ناقشا الاستقرار الاستراتيجي."]


@pytest.mark.parametrize(
    ("line", "iso"),
    [("07-يوليو-2023", "2023-07-07"), ("الجمعة - 12 شوال 1443 هـ - 13 مايو 2022 مـ", "2022-05-13"), ("3 كانون الثاني 2021", "2021-01-03"),
     ("March 5, 2020", "2020-03-05"), ("في 23 من أكتوبر الماضي", None), ("31 فبراير 2022", None), ("٠٧-يوليو-٢٠٢٣", "2023-07-07")],
)
def test_find_date(line: str, iso: str | None) -> None:
    assert find_date(line) == iso


def test_date_in_body_is_not_the_publication_date() -> None:
    body = "عنوان الخبر\n" + "\n".join(f"سطر رقم {i} من النص." for i in range(10)) + "\nفي 13 مايو 2022 حدث شيء."
    assert clean(body)[2] is None


def test_long_first_line_gives_a_short_title() -> None:
    _, title, _ = clean(" ".join(["كلمة"] * 40) + ".\nنص.")
    assert title.endswith("…") and len(title.split()) == 15


def test_load_corpus_skips_bad_files_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("عنوان\nنص الخبر هنا.", encoding="utf-8")
    (tmp_path / "bom.txt").write_bytes("\ufeffعنوان آخر\nنص.".encode())
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "notes.md").write_text("ignored", encoding="utf-8")
    docs, skipped = load_corpus(tmp_path)
    assert sorted(d.doc_id for d in docs) == ["bom", "good"]
    assert next(d for d in docs if d.doc_id == "bom").title == "عنوان آخر"
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == {"latin1.txt", "binary.txt", "empty.txt"}
    assert "UTF-8" in reasons["latin1.txt"] and "binary" in reasons["binary.txt"] and "empty" in reasons["empty.txt"]


def test_empty_corpus_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="No usable"):
        load_corpus(tmp_path)
    (tmp_path / "x.txt").write_bytes(b"\x00\x01")
    with pytest.raises(CorpusError, match="x.txt"):
        load_corpus(tmp_path)
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "missing")


def test_seed_articles_load_with_titles_and_dates() -> None:
    from conftest import SEEDS

    docs = {d.doc_id: d for d in load_corpus(SEEDS)[0]}
    assert len(docs) == 5
    assert docs["004_576a10afaf96e38e"].date == "2022-05-13"
    assert docs["002_78d79029fb107ae1"].date == "2023-07-07"
    assert docs["001_244b49cc0abf093d"].title.startswith("محادثات استخباراتية")
    for d in docs.values():
        assert "اقرأ أيضاً" not in d.text and "time reading" not in d.text and "gettyimages" not in d.text

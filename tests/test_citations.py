from rag import citations as cite
from rag.chunking import Chunk
from rag.retrieval import Passage
from rag.text import split_sentences

TEXT = "قال المسؤولون إن سوليفان تحدث مع يوري أوشاكوف. وأضافوا أن المحادثات بدأت عام 2022."
CHUNK = Chunk("c1", "doc1", "عنوان", None, TEXT, 0, len(TEXT), tuple((s.start, s.end) for s in split_sentences(TEXT)))
OTHER_TEXT = "التقى بيرنز ناريشكين في أنقرة."
OTHER = Chunk("c2", "doc2", "عنوان آخر", "2022-11-14", OTHER_TEXT, 0, len(OTHER_TEXT), ((0, len(OTHER_TEXT)),))
PASSAGES = [Passage(1, CHUNK, (0, 1), 0.6), Passage(2, OTHER, (0,), 0.5)]


def test_spans_of_the_fixture_are_sentences() -> None:
    assert [CHUNK.text[s:e] for s, e in CHUNK.sentences] == ["قال المسؤولون إن سوليفان تحدث مع يوري أوشاكوف.", "وأضافوا أن المحادثات بدأت عام 2022."]


def test_markers_map_to_passages_with_quote_and_span() -> None:
    out = cite.build("تحدث سوليفان مع يوري أوشاكوف [1].", PASSAGES)
    assert len(out) == 1
    c = out[0]
    assert (c.n, c.doc_id, c.chunk_id, c.supported) == (1, "doc1", "c1", True)
    assert c.quote == CHUNK.text[c.start : c.end] == "قال المسؤولون إن سوليفان تحدث مع يوري أوشاكوف."


def test_marker_to_no_passage_is_dropped() -> None:
    assert cite.clean_markers("جواب [1] و [7].", {1, 2}) == "جواب [1] و."
    assert [c.n for c in cite.build("تحدث سوليفان مع أوشاكوف [7] [2].", PASSAGES)] == [2]


def test_wrong_number_or_name_is_not_supported() -> None:
    (c,) = cite.build("بدأت المحادثات عام 2019 [1].", PASSAGES)
    assert not c.supported
    (c,) = cite.build("تحدث سوليفان مع لافروف وزيلينسكي وبوتين [2].", PASSAGES)
    assert not c.supported


def test_uncited_answer_gets_citations_by_matching() -> None:
    out = cite.build("التقى بيرنز ناريشكين في أنقرة.", PASSAGES)
    assert [(c.n, c.supported) for c in out] == [(2, True)]


def test_english_answer_is_checked_through_its_arabic_draft() -> None:
    out = cite.build("Sullivan spoke with Yuri Ushakov [1].", PASSAGES, check_text="تحدث سوليفان مع يوري أوشاكوف [1].")
    assert [(c.n, c.supported) for c in out] == [(1, True)]


def test_semantic_similarity_can_support_a_paraphrase() -> None:
    claim = "جرى لقاء في العاصمة التركية [2]."
    assert not cite.build(claim, PASSAGES)[0].supported
    close = cite.build(claim, PASSAGES, similarity=lambda c, s: __import__("numpy").array([0.8]))
    assert close[0].supported


def test_markers_helpers() -> None:
    assert cite.markers("a [2] b [1][2]") == [2, 1]
    assert cite.strip_markers("جواب [1] [2]") == "جواب"


def test_english_claim_is_matched_and_checked_by_its_names() -> None:
    names = {"Yuri Ushakov": "يوري أوشاكوف", "Naryshkin": "ناريشكين", "Burns": "بيرنز"}
    out = cite.build("Sullivan spoke with Yuri Ushakov.", PASSAGES, names=names)  # no marker: matched by name
    assert [(c.n, c.supported) for c in out] == [(1, True)]
    (wrong,) = cite.build("Burns met Naryshkin [1].", PASSAGES, names=names)  # names not in passage 1
    assert not wrong.supported

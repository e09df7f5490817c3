from dataclasses import replace

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
    glossary = {"يوري أوشاكوف": "Yuri Ushakov", "ناريشكين": "Naryshkin", "بيرنز": "Burns"}
    out = cite.build("Sullivan spoke with Yuri Ushakov.", PASSAGES, glossary=glossary)  # no marker: matched by name
    assert [(c.n, c.supported) for c in out] == [(1, True)]
    (wrong,) = cite.build("Burns met Naryshkin [1].", PASSAGES[:1], glossary=glossary)  # names not in passage 1
    assert not wrong.supported


def test_a_marker_whose_passage_supports_nothing_carries_the_passage_that_does() -> None:
    glossary = {"ناريشكين": "Naryshkin", "بيرنز": "Burns", "يوري أوشاكوف": "Yuri Ushakov"}
    (moved,) = cite.build("Burns met Naryshkin [1].", PASSAGES, glossary=glossary)
    assert (moved.n, moved.chunk_id, moved.quote, moved.supported) == (1, "c2", OTHER_TEXT, True)
    # a passage that supports one of the sentences citing it keeps the marker
    (kept,) = cite.build("Sullivan spoke with Yuri Ushakov [1]. Burns met Naryshkin [1].", PASSAGES, glossary=glossary)
    assert (kept.chunk_id, kept.supported) == ("c1", True)
    # no passage supports it: the marker keeps its passage, unsupported
    (unmoved,) = cite.build("بدأت المحادثات عام 2019 [1].", PASSAGES)
    assert (unmoved.chunk_id, unmoved.supported) == ("c1", False)


def test_a_name_the_passage_lacks_is_not_supported_however_close_the_claim() -> None:
    glossary = {"سيرغي لافروف": "Serge Lavrov", "وليام بيرنز": "William Burns", "ناريشكين": "Naryshkin"}
    close = lambda c, s: __import__("numpy").array([0.9])  # noqa: E731
    (c,) = cite.build("Burns met Sergei Lavrov in Ankara [2].", PASSAGES, similarity=close, glossary=glossary)
    assert not c.supported  # "Sergei Lavrov" is not the glossary's spelling, but "Lavrov" is its word
    (c,) = cite.build("Burns met Naryshkin in Ankara [2].", PASSAGES, similarity=close, glossary=glossary)
    assert c.supported


def test_every_arabic_form_of_a_name_counts() -> None:
    glossary = {"سيرجي شويجو": "Sergei Shoigu", "سيرغي شويغو": "Sergei Shoigu"}
    words_of = cite.name_words(glossary)
    assert words_of["Shoigu"] == {"شويجو", "شويغو"}
    assert cite.absent_names("Sergei Shoigu spoke.", "قال سيرغي شويغو", words_of) == []
    assert cite.absent_names("Shoigu spoke.", "قال أوستن", words_of) == ["Shoigu"]


def test_markers_after_the_full_stop_cite_the_sentence_before() -> None:
    (c,) = cite.build("التقى بيرنز ناريشكين في أنقرة. [2]", PASSAGES)
    assert (c.n, c.chunk_id, c.supported) == (2, "c2", True)
    (c,) = cite.build("تحدث سوليفان مع يوري أوشاكوف. [2]", PASSAGES)  # the marker the answer shows is the citation's
    assert (c.n, c.chunk_id, c.supported) == (2, "c1", True)


def test_numbers_restated_from_the_question_are_not_held_against_the_claim() -> None:
    claim = "قبل اتصال عام 2023، تحدث سوليفان مع يوري أوشاكوف [1]."
    (c,) = cite.build(claim, PASSAGES)
    assert not c.supported  # 2023 is in no passage
    (c,) = cite.build(claim, PASSAGES, question="مع من تحدث سوليفان قبل اتصال عام 2023؟")
    assert c.supported
    (c,) = cite.build("بدأت المحادثات عام 2019 [1].", PASSAGES, question="متى بدأت المحادثات بعد عام 2018؟")
    assert not c.supported  # a number the question did not state still has to be in the passage


_SUSPENDED = "وكانت عمليات التفتيش بموجب معاهدة نيو ستارت قد عُلقت في مارس (آذار) 2020 بسبب جائحة كوفيد-19."
_SUSPENDED_CHUNK = Chunk("c4", "doc4", "عنوان", None, _SUSPENDED, 0, len(_SUSPENDED), ((0, len(_SUSPENDED)),))
_GLOSSARY = {"نيو ستارت": "New START"}


def test_a_number_is_stated_whole_not_as_part_of_another() -> None:
    """A misreading of "suspended in March 2020" as "signed on March 20, 2020" has a day the passage lacks:
    20 is in 2020 as text, not as a number."""
    evidence = [Passage(1, _SUSPENDED_CHUNK, (0,), 0.6)]
    (c,) = cite.build("New START inspections were suspended in March 2020. [1]", evidence, glossary=_GLOSSARY)
    assert c.supported
    (c,) = cite.build("The New START treaty was signed on March 20, 2020. [1]", evidence, glossary=_GLOSSARY)
    assert not c.supported
    assert cite.facts("About 1,000 inspectors") == cite.facts("نحو 1000 مفتش")  # a thousands separator is not two numbers


def test_a_month_the_passage_does_not_state_is_not_supported() -> None:
    evidence = [Passage(1, _SUSPENDED_CHUNK, (0,), 0.6)]
    (c,) = cite.build("New START inspections were suspended in May 2020. [1]", evidence, glossary=_GLOSSARY)
    assert not c.supported
    (c,) = cite.build("عُلقت عمليات التفتيش بموجب معاهدة نيو ستارت في آذار/أيار 2020. [1]", evidence)
    assert not c.supported  # March is there, May (أيار) is not
    (c,) = cite.build("عُلقت عمليات التفتيش بموجب معاهدة نيو ستارت في مارس 2020. [1]", evidence)
    assert c.supported  # مارس and آذار are both March
    # a month the question states is its premise, as numbers are
    (c,) = cite.build("Before May, New START inspections were suspended in March 2020. [1]", evidence, glossary=_GLOSSARY,
                      question="What happened to New START inspections before May?")
    assert c.supported
    # "may" the verb is no month, nor is أب ("father", August آب once folded)
    assert cite.facts("Burns may raise the issue.", claim=True) == cite.facts("أب بيرنز", claim=True) == frozenset()


def test_a_fragment_answer_is_checked_with_its_question() -> None:
    text = "وقالت الشبكة إنها نقلت عن 6 مسؤولين مطلعين. وأضافت أن الاجتماع جرى في نيويورك."
    chunk = Chunk("c3", "doc3", "عنوان", None, text, 0, len(text), tuple((s.start, s.end) for s in split_sentences(text)))
    evidence = [Passage(1, chunk, (0,), 0.6)]  # the sentence retrieval picked for the question
    question = "How many officials did the network cite?"
    assert not cite.build("6 [1]", evidence)[0].supported  # "6" alone claims nothing
    (c,) = cite.build("6 [1]", evidence, question=question)
    assert (c.supported, c.quote) == (True, "وقالت الشبكة إنها نقلت عن 6 مسؤولين مطلعين.")
    assert not cite.build("7 [1]", evidence, question=question)[0].supported
    # stated only outside the evidence sentences: not an answer to this question
    assert not cite.build("نيويورك [1]", evidence, question="أين نقلت الشبكة عن المسؤولين؟")[0].supported
    # a fragment cited to the wrong passage carries the passage that states it
    (moved,) = cite.build("6 [1]", [replace(PASSAGES[1], n=1), replace(evidence[0], n=2)], question=question)
    assert (moved.n, moved.chunk_id, moved.supported) == (1, "c3", True)



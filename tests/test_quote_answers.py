"""The quote-first answer with deterministic fakes: the quote comes before any answer
text, the model is asked for a phrase of that one sentence under a grammar, the
phrase is marked in the quote and cited, and what the model cannot be trusted
with (a phrase outside the sentence) does not reach the answer."""

import pytest
from conftest import FakeGenerator

from rag import spans
from rag.answering import REFUSALS, Answer, Assistant, Quote, Token


@pytest.fixture
def assistant(settings, fake_index, fake_embedder):
    def make(respond, **overrides):
        s = settings.replace(**{"refusal_threshold": 0.1, **overrides})
        return Assistant(s, fake_index, fake_embedder, FakeGenerator(respond))

    return make


def _sentence(messages) -> str:
    return next(line for line in messages[-1]["content"].splitlines() if line.startswith("Sentence: "))[len("Sentence: ") :]


def _words(first: int, count: int):
    """A model that copies `count` words of the sentence from word `first` on."""
    return lambda messages: " ".join(_sentence(messages).split()[first : first + count])


def test_the_quote_comes_first_and_the_answer_is_a_marked_phrase_of_it(assistant) -> None:
    a = assistant(_words(2, 3))
    events = list(a.stream("ماذا طلب أوستن من شويغو؟"))
    kinds_seen = [type(e).__name__ for e in events]
    assert kinds_seen[0] == "Quote" and "Token" in kinds_seen and kinds_seen.index("Quote") < kinds_seen.index("Token")
    quote, answer = events[0], events[-1]
    assert isinstance(quote, Quote) and isinstance(answer, Answer) and quote.phrase == ""  # the quote event comes before the phrase is known
    assert a.generator.calls and _sentence(a.generator.calls[0]) == quote.text  # the model reads that one sentence, nothing else
    phrase = " ".join(quote.text.split()[2:5]).strip(spans.EDGE)
    assert answer.quote is not None and answer.quote.text == quote.text and answer.quote.phrase == phrase
    assert answer.answer == f"{phrase} [1]" and not answer.refused
    c = answer.citations[0]
    assert c.n == 1 and c.supported and c.doc_id == quote.doc_id and c.text[c.start : c.end] == quote.text
    assert "".join(e.text for e in events if isinstance(e, Token)).strip() == answer.answer  # what streamed is the answer


def test_the_grammar_allows_only_the_quotes_words(assistant) -> None:
    a = assistant(_words(0, 2))
    answer = a.ask("ماذا طلب أوستن من شويغو؟")
    grammar = a.generator.grammars[0]
    assert grammar is not None and grammar.startswith("root ::=")
    assert all(f'"{w.strip(".،,«»()")}"' in grammar or w.strip(".،,«»()") == "" for w in answer.quote.text.split())


def test_a_phrase_outside_the_sentence_never_becomes_the_answer(assistant) -> None:
    # a model that ignores the grammar (a server without grammar support) and invents a name
    a = assistant(lambda m: "وزير الخارجية الصيني وانغ يي")
    answer = a.ask("ماذا طلب أوستن من شويغو؟")
    assert "وانغ" not in answer.answer and answer.quote is not None
    assert answer.answer == f"{answer.quote.text} [1]" and answer.quote.phrase == ""  # the sentence itself, unmarked


def test_one_phrase_of_the_kind_asked_for_needs_no_model(assistant, fake_index) -> None:
    a = assistant(_words(0, 2))
    answer = a.ask("متى كانت المحادثة الأولى بين أوستن وشويغو منذ بدء الحرب؟")
    assert answer.quote is not None
    if "18 فبراير" in answer.quote.text:  # the quote holds one date: it is the answer, the model is not asked
        assert answer.answer.startswith("18 فبراير") and a.generator.calls == []
    else:  # another sentence came first: the model chooses within it
        assert a.generator.calls


def test_a_yes_no_question_gets_yes_or_no(assistant) -> None:
    a = assistant(lambda m: "نعم")
    answer = a.ask("هل تحدث أوستن مع شويغو؟")
    assert a.generator.grammars == [spans.yes_no_grammar("ar")] and answer.answer == "نعم [1]"
    assert "yes or no" in a.generator.calls[0][0]["content"]


def test_an_english_phrase_of_names_is_spelled_by_lookup_without_a_second_call(assistant) -> None:
    a = assistant(lambda m: "")
    answer = a.ask("In which month of 2022 did Austin call Shoigu?")
    if answer.quote is not None and answer.quote.phrase:  # a month of the quote came out: looked up, not translated
        assert len(a.generator.calls) <= 1 and not any(ch in answer.answer for ch in "ابتثجحخدذرزسشصضطظعغفقكلمنهوي")


def test_an_english_phrase_the_tables_cannot_read_is_put_into_english_by_the_model(assistant) -> None:
    def respond(messages):
        if messages[0]["content"].startswith("Put the Arabic phrase into English"):
            return "an immediate ceasefire"
        return " ".join(_sentence(messages).split()[3:6])

    a = assistant(respond)
    answer = a.ask("What did Austin urge Shoigu to do?")
    assert answer.language == "en" and answer.answer == "an immediate ceasefire [1]"
    assert len(a.generator.calls) == 2 and a.generator.grammars[1] is None
    assert "Arabic phrase: " + answer.quote.phrase in a.generator.calls[1][-1]["content"]  # it translates the marked phrase


def test_a_rendering_with_no_english_in_it_leaves_the_arabic_phrase(assistant) -> None:
    def respond(messages):
        if messages[0]["content"].startswith("Put the Arabic phrase into English"):
            return 'The English phrase is: "The Arabic phrase is: ' + messages[-1]["content"].split("Arabic phrase: ")[-1]
        return " ".join(_sentence(messages).split()[3:6])

    answer = assistant(respond).ask("What did Austin urge Shoigu to do?")
    assert answer.quote is not None and answer.quote.phrase
    assert answer.answer == f"{answer.quote.phrase} [1]"  # the phrase as copied, not the labels around it


def test_a_follow_up_prompt_carries_the_earlier_question(assistant) -> None:
    a = assistant(_words(0, 2))
    a.ask("وماذا طلب منه؟", [{"role": "user", "content": "مع من تحدث أوستن؟"}, {"role": "assistant", "content": "شويغو [1]"}])
    assert "Earlier question: مع من تحدث أوستن؟" in a.generator.calls[0][-1]["content"]


def test_no_quote_and_no_model_below_the_refusal_threshold(assistant) -> None:
    a = assistant(_words(0, 2), refusal_threshold=0.99)
    events = list(a.stream("What is a good recipe for hummus?"))
    assert not any(isinstance(e, Quote) for e in events) and a.generator.calls == []
    assert events[-1].refused and events[-1].answer == REFUSALS["en"]
    closest = events[-1].quote  # what the articles come closest with, for the user to judge the refusal by
    assert closest is not None and closest.phrase == "" and closest.text in " ".join(c.text for c in a.index.chunks if c.doc_id == closest.doc_id)
    assert events[-1].to_json()["quote"]["text"] == closest.text


def test_the_answer_json_carries_the_quote_and_its_phrase(assistant) -> None:
    answer = assistant(_words(1, 2)).ask("ماذا طلب أوستن من شويغو؟")
    data = answer.to_json()
    q = data["quote"]
    assert q["text"] == answer.quote.text and q["text"][q["phrase_start"] : q["phrase_end"]] == answer.quote.phrase
    assert data["timings"]["quote_ms"] is not None and data["timings"]["quote_ms"] <= data["timings"]["total_ms"]


def _ranked(weights, question: str, sentences: list[str], fake_embedder):
    """Candidates of one chunk of the given sentences, ranked for the question."""
    from rag.chunking import Chunk
    from rag.quoting import QuoteRanker
    from rag.retrieval import Hit

    text, spans_ = "", []
    for s in sentences:
        spans_.append((len(text), len(text) + len(s)))
        text += s + " "
    chunk = Chunk("c1", "d1", "title", None, text.strip(), 0, len(text), tuple(spans_))
    vectors = fake_embedder.embed_documents(sentences)
    ranker = QuoteRanker([chunk], weights)
    return ranker.rank(question, [vectors], [Hit(1, 0, chunk, 0.5)], fake_embedder.embed_query(question))


def test_the_ranking_weighs_what_the_question_asks_for_beside_similarity(fake_embedder) -> None:
    question = "متى التقى بيرنز بناريشكين؟"
    echo = "التقى بيرنز بناريشكين."
    dated = "وكان مدير المخابرات بيرنز قد التقى رئيس الاستخبارات ناريشكين يوم 14 نوفمبر في العاصمة التركية."
    by_similarity = _ranked({}, question, [echo, dated], fake_embedder)
    assert by_similarity[0].text == echo and by_similarity[0].similarity > by_similarity[1].similarity
    assert {c.text: c.features["kind"] for c in by_similarity} == {echo: 0.0, dated: 1.0}  # a date the question does not hold
    weighed = _ranked({"sim": 1.0, "kind": 5.0}, question, [echo, dated], fake_embedder)
    assert weighed[0].text == dated


def test_the_fitted_weights_are_used_unless_similarity_is_asked_for(settings, fake_index, fake_embedder) -> None:
    from rag.quoting import WEIGHTS

    fitted = Assistant(settings, fake_index, fake_embedder, FakeGenerator(lambda m: ""))
    plain = Assistant(settings.replace(quote_ranking="similarity"), fake_index, fake_embedder, FakeGenerator(lambda m: ""))
    assert fitted.quotes.weights == WEIGHTS and WEIGHTS and plain.quotes.weights == {}
    ranked = plain.prepare("مع من تحدث سوليفان؟").candidates
    assert [c.similarity for c in ranked] == sorted((c.similarity for c in ranked), reverse=True)


def test_typed_kinds_off_copies_freely(assistant) -> None:
    on = assistant(_words(0, 2))
    off = assistant(_words(0, 2), typed_kinds="")
    question = "مع من تحدث سوليفان؟"
    on.ask(question)
    off.ask(question)
    assert off.generator.grammars and off.generator.grammars[0].startswith("root ::= s")  # runs of the sentence's words
    assert not on.generator.grammars or on.generator.grammars[0].startswith("root ::= choice")  # or one name: no model


def test_with_follow_up_joining_off_the_span_prompt_has_no_earlier_question(assistant) -> None:
    history = [{"role": "user", "content": "مع من تحدث أوستن؟"}, {"role": "assistant", "content": "شويغو [1]"}]
    off = assistant(_words(0, 2), ablate="followup_join")
    off.ask("وماذا طلب منه؟", history)
    assert "Earlier question" not in off.generator.calls[0][-1]["content"]


def test_clause_kinds_ask_why_how_and_identity_questions_for_a_clause(assistant) -> None:
    on = assistant(_words(0, 2), clause_kinds="why,how,identity")
    for question in ("لماذا عُلّقت عمليات التفتيش؟", "من هو أوشاكوف؟", "How did Austin describe the call?"):
        on.ask(question)
    on.ask("ماذا طلب أوستن من شويغو؟")
    from rag import rendering

    systems = [call[0]["content"] for call in on.generator.calls if call[0]["content"] != rendering.RENDER_SYSTEM]  # the English one is put into English after
    assert systems == [spans.CLAUSE_SYSTEM] * 3 + [spans.SPAN_SYSTEM]
    off = assistant(_words(0, 2), clause_kinds="")
    off.ask("لماذا عُلّقت عمليات التفتيش؟")
    assert off.generator.calls[0][0]["content"] == spans.SPAN_SYSTEM


def test_which_questions_get_a_clause_unless_left_out_of_clause_kinds(assistant) -> None:
    treaty = "ما المعاهدة التي يناقش الجانبان استئناف عمليات التفتيش بموجبها؟"
    default = assistant(_words(0, 2))
    default.ask(treaty)
    assert default.generator.calls[0][0]["content"] == spans.CLAUSE_SYSTEM
    short = assistant(_words(0, 2), clause_kinds="why,how,identity,what")
    short.ask(treaty)
    short.ask("ماذا طلب أوستن من شويغو؟")  # another what question keeps its clause
    assert [call[0]["content"] for call in short.generator.calls] == [spans.SPAN_SYSTEM, spans.CLAUSE_SYSTEM]


def test_span_examples_sit_in_the_system_message(assistant) -> None:
    a = assistant(_words(0, 2), span_examples=True, clause_kinds="")
    a.ask("ماذا طلب أوستن من شويغو؟")
    system, user = a.generator.calls[0]
    assert system["content"] == spans.SPAN_SYSTEM + spans.EXAMPLES and "Examples" not in user["content"]
    clause = assistant(_words(0, 2), span_examples=True)
    clause.ask("ماذا طلب أوستن من شويغو؟")
    assert clause.generator.calls[0][0]["content"] == spans.CLAUSE_SYSTEM + spans.CLAUSE_EXAMPLES


"""The short answer's parts without a model: the copy grammar, the kinds of phrase a
question asks for, locating a copied phrase, English by lookup, the question's kind."""

import pytest

from rag import kinds, quoting, rendering, spans
from rag.quoting import is_which, question_type

SULLIVAN = ("ونقلت الصحيفة عن المسؤولين، قولهم إن سوليفان كان على اتصال مع مستشار السياسة الخارجية لبوتين يوري أوشاكوف، "
            "كما أنه تحدث أيضاً مع نظيره في الحكومة الروسية نيكولاي باتروشيف.")
AUSTIN = "وهذه هي المحادثة الأولى بين أوستن وشويغو منذ 18 فبراير (شباط)، أي قبل نحو أسبوع من دخول القوات الروسية إلى أوكرانيا."


def _llama_grammar(text: str):
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False)


def test_the_copy_grammar_is_one_rule_per_word_and_parses() -> None:
    text = spans.grammar([SULLIVAN])
    assert text.count(" ::= ") == 1 + 1 + 3 * len(SULLIVAN.split())  # root, end, and three rules a word
    assert '"أوشاكوف"' in text and '"أوشاكوف، "' not in text  # a run may stop before the comma after a name
    _llama_grammar(text)  # llama.cpp accepts it
    _llama_grammar(spans.grammar(['قال «بيسكوف»: "جرت" (المحادثات) \\ بالفعل.', "وقال لافروف"]))  # quotes, brackets, a backslash, two sentences
    with pytest.raises(ValueError):
        spans.grammar(["   "])


def test_choice_and_yes_no_grammars_parse() -> None:
    _llama_grammar(spans.choice_grammar(["يوري أوشاكوف", "نيكولاي باتروشيف"]))
    _llama_grammar(spans.yes_no_grammar("ar"))
    assert '"Yes"' in spans.yes_no_grammar("en") and '"No"' in spans.yes_no_grammar("en")
    with pytest.raises(ValueError):
        spans.choice_grammar([])


@pytest.mark.parametrize(("copied", "expected"), [
    ("يوري أوشاكوف", "يوري أوشاكوف"),
    ("يوري أوشاكوف،", "يوري أوشاكوف"),  # the comma the grammar allows at the end is dropped
    ("  يوري   أوشاكوف ", "يوري أوشاكوف"),  # spacing differs
    ("نيكولاي باتروشيف.", "نيكولاي باتروشيف"),
])
def test_a_copied_phrase_is_found_where_it_stands(copied: str, expected: str) -> None:
    found = spans.locate(copied, SULLIVAN)
    assert found is not None and found.text == expected and SULLIVAN[found.start : found.end] == expected


@pytest.mark.parametrize("copied", ["", "،", "وزير الخارجية الصيني"])
def test_a_phrase_not_in_the_sentence_is_not_found(copied: str) -> None:
    assert spans.locate(copied, SULLIVAN) is None


def test_a_streaming_phrase_shows_no_trailing_mark() -> None:
    assert spans.settled("يوري أوشاكوف،") == "يوري أوشاكوف"
    assert spans.settled("18 فبراير") == "18 فبراير"


@pytest.mark.parametrize(("question", "kind"), [
    ("مع من تحدث سوليفان؟", "who"), ("Who did Sullivan talk to?", "who"), ("متى تحدثا؟", "when"), ("ومتى؟", "when"),
    ("In which year did Russia annex Crimea?", "when"), ("كم عدد المصادر؟", "count"), ("How long did the meeting last?", "duration"), ("كم استمر اللقاء؟", "duration"),
    ("أين جرت المحادثات؟", "where"), ("In which city did they meet?", "where"), ("لماذا عُلّقت عمليات التفتيش؟", "why"),
    ("من هو أوشاكوف؟", "what"), ("Who is Yuri Ushakov?", "what"), ("من هم أعضاء الوفد الأمريكي الذي تحدث مع لافروف؟", "who"),
    ("هل التقى بيرنز بناريشكين؟", "yesno"), ("Did Burns meet Naryshkin?", "yesno"), ("ما الصحيفة التي كشفت المحادثات؟", "what"),
    # a role named after "who is" asks who holds it (a name); one word with its article may be a family name
    ("من هو المدير العام للبرونكوس؟", "who"), ("Who is the general manager of the Broncos?", "who"), ("Who was the Roman emperor?", "who"),
    ("من هو البغدادي؟", "what"),
])
def test_question_kinds(question: str, kind: str) -> None:
    assert question_type(question) == kind


@pytest.mark.parametrize(("question", "which"), [
    ("ما المعاهدة التي يناقش الجانبان استئناف عمليات التفتيش بموجبها؟", True), ("أي من التراجم الإنجليزية تأثرت بكتاب لوثر؟", True),
    ("في أي جزء من الولايات المتحدة هاجر الطلاب؟", True), ("What report had the correct date?", True), ("In which county does Jacksonville reside?", True),
    ("ما هو الشكل البسيط للعصيان المدني؟", False), ("ما الذي تدخل في غزو كوبلاي الثاني لليابان؟", False), ("ماذا طلب أوستن من شويغو؟", False),
    ("What did Austin ask Shoigu?", False), ("What is Christianity?", False), ("في أي عام بدأت الثورة؟", False), ("Which city did they meet in?", False),
])
def test_which_questions_name_the_kind_of_thing_they_ask_for(question: str, which: bool) -> None:
    assert is_which(question) is which


def test_phrases_of_the_kind_asked_for() -> None:
    # names the question holds are no answer; a name with a preposition attached stands alone
    who = kinds.phrases("who", SULLIVAN, "مع من تحدث سوليفان؟")
    assert "يوري أوشاكوف" in who and "نيكولاي باتروشيف" in who and not any("سوليفان" in p for p in who)
    assert kinds.phrases("when", AUSTIN, "متى تحدث أوستن وشويغو؟") == ["18 فبراير (شباط"]
    assert kinds.phrases("count", "أنهى جاريد ألين مسيرته بـ 136 استحواذاً", "How many sacks?") == ["136"]
    assert kinds.phrases("when", "تم اختبار المقابس في 27 كانون الثاني/يناير 1967.", "متى تم الاختبار؟") == ["27 كانون الثاني/يناير 1967"]
    assert kinds.phrases("duration", "واستمر اللقاء لعدة ساعات مع 6 مسؤولين", "كم استمر اللقاء؟") == ["لعدة ساعات"]
    assert kinds.phrases("count", "ووفقا للمصادر الأربعة التي تحدثت للشبكة", "كم عدد المصادر؟") == ["الأربعة"]
    assert "أنقرة" in kinds.phrases("where", "إن محادثات مديري الاستخبارات التي جرت في أنقرة جاءت بطلب أميركي.", "أين جرت المحادثات؟")
    assert kinds.phrases("when", "وقال إن المحادثات جرت بطلب أميركي.", "متى جرت المحادثات؟") == []  # none: the choice stays open
    assert kinds.phrases("what", SULLIVAN, "ماذا قال؟") == []


@pytest.mark.parametrize(("phrase", "english"), [
    ("18 فبراير", "18 February"),
    ("18 فبراير (شباط", "18 February"),  # one month in two calendars' names
    ("١٨ شباط", "18 February"),
    ("عام 2014", "2014"),
    ("الاثنين", "Monday"),
    ("يوري أوشاكوف", "Yuri Ushakov"),
    ("أوشاكوف وباتروشيف", "Ushakov and Patrushev"),
    ("لبوتين", "Putin"),
])
def test_english_by_lookup(phrase: str, english: str) -> None:
    glossary = {"يوري أوشاكوف": "Yuri Ushakov", "أوشاكوف": "Ushakov", "باتروشيف": "Patrushev", "بوتين": "Putin"}
    assert rendering.by_lookup(phrase, glossary) == english


def test_a_phrase_with_a_word_no_table_holds_is_left_to_the_model() -> None:
    assert rendering.by_lookup("وقف فوري لإطلاق النار", {}) is None
    prompt = rendering.messages("وقف فوري", "حض أوستن شويغو على وقف فوري لإطلاق النار", {"أوستن": "Austin", "بوتين": "Putin"})
    assert "أوستن = Austin" in prompt[1]["content"] and "Putin" not in prompt[1]["content"]  # only the sentence's names
    assert rendering.tidy('English: "immediate ceasefire"\nmore') == "immediate ceasefire"
    # labels the model repeats are no part of the answer; what is left may be no English at all
    assert rendering.tidy('The English phrase is: "The Arabic phrase is: الجمعية الطبية') == "الجمعية الطبية"


def test_a_when_question_naming_a_part_of_the_date_gets_the_dates_holding_it() -> None:
    sentence = "وقالت الصحيفة يوم الأحد إن روسيا ضمت القرم عام 2014."
    assert kinds.phrases("when", sentence, "In what year did Russia annex Crimea?") == ["عام 2014"]
    assert kinds.phrases("when", sentence, "On what day did the paper report it?") == ["الأحد"]
    assert set(kinds.phrases("when", sentence, "When?")) == {"الأحد", "عام 2014"}


def test_a_century_is_a_date_and_answers_a_question_asking_for_one() -> None:
    assert quoting.question_type("في أي قرن فتح المسلمون تونس؟") == "when" == quoting.question_type("In which century did it begin?")
    germans = "استقرت قبائل الجرمان خلال القرن الخامس والسادس الميلادي في إنجلترا."
    assert kinds.phrases("when", germans, "متى استقرت قبائل الجرمان؟") == ["القرن الخامس والسادس الميلادي"]
    born = "ولد في 15 يناير 1918 في القرن العشرين."
    assert kinds.phrases("when", born, "متى ولد؟") == ["15 يناير 1918"]  # a date, where the sentence has one
    assert kinds.phrases("when", born, "في أي قرن ولد؟") == ["القرن العشرين"]
    assert kinds.phrases("when", "وفي القرن الماضي تغير كل شيء.", "متى تغير؟") == []  # no ordinal: not read as a date
    assert kinds.phrases("when", "تغير كل شيء في هذا القرن", "متى تغير؟") == []  # the century's word last in the sentence


def test_a_decade_is_a_date_with_the_part_of_it_named() -> None:
    trump = "حيث أن الكثير من الأخبار التي نقلت عنه في أوائل التسعينيات كانت تغطي مشاكله المالية."
    assert kinds.phrases("when", trump, "متى نقلت عنه أخبار مشاكله المالية؟") == ["أوائل التسعينيات"]
    assert kinds.phrases("when", "ازدهرت في الستينات والسبعينيات.", "متى ازدهرت؟") == ["الستينات والسبعينيات"]  # without ي, and joined by و
    assert kinds.phrases("when", "بلغ عددهم ثمانين شخصاً.", "متى؟") == []  # a number, not a decade


def test_an_arabic_name_given_by_lineage_is_one_name() -> None:
    # common Arabic words, each turned away by the name test; بن and بنت join them into one name
    assert kinds.phrases("who", "ويعد عمر بن عبد العزيز من أفضل خلفاء بني أمية.", "من أفضل خلفاء بني أمية؟") == ["عمر بن عبد العزيز"]
    assert kinds.phrases("who", "أمه الفارعة بنت همام بن عروة بن مسعود.", "من أمه؟") == ["الفارعة بنت همام بن عروة بن مسعود"]
    assert kinds.phrases("who", "وكان علي بن أبي طالب ابن عمه.", "من كان ابن عمه؟") == ["علي بن أبي طالب"]
    # a where-question's places are not people named by lineage
    assert kinds.phrases("where", "وورد في حديث لمحمد بن عبد الله.", "أين ورد ذلك؟") == []


def test_a_where_question_gets_place_names() -> None:
    assert kinds.phrases("where", "وقال إن المحادثات كانت مقررة في القاهرة.", "أين كانت المحادثات مقررة؟") == ["القاهرة"]  # CLDR knows Cairo
    ankara = "وقال بيسكوف إن المحادثات جرت في أنقرة."  # CLDR's cities are its time zones' (Istanbul, not Ankara): other names come in
    assert "أنقرة" in kinds.phrases("where", ankara, "أين جرت المحادثات؟")


def test_what_an_english_question_names_is_found_in_arabic() -> None:
    glossary = {"سوليفان": "Sullivan", "يوري أوشاكوف": "Yuri Ushakov"}
    arabic = rendering.arabic_of("Who did Sullivan talk to in October?", glossary)
    assert "سوليفان" in arabic and "أوشاكوف" not in arabic and "أكتوبر" in arabic and "تشرين الأول" in arabic
    held = "Who did Sullivan talk to? " + arabic
    assert not any("سوليفان" in p for p in kinds.phrases("who", SULLIVAN, held))


def test_names_joined_in_a_compound_or_a_possessive_are_found() -> None:
    glossary = {"أوستن": "Austin", "شويغو": "Shoigu", "سوليفان": "Sullivan", "جون كيربي": "John Kirby"}
    arabic = rendering.arabic_of("Who spoke of the Austin-Shoigu call after Sullivan's talks?", glossary).split()
    assert {"أوستن", "شويغو", "سوليفان"} <= set(arabic) and "كيربي" not in arabic


@pytest.mark.parametrize(("phrase", "english"), [("شهرين", "two months"), ("لعدة ساعات", "several hours"), ("الأربعة", "four")])
def test_durations_and_number_words_by_table(phrase: str, english: str) -> None:
    assert rendering.by_lookup(phrase, {}) == english


@pytest.mark.parametrize(("phrase", "english"), [
    ("القرن التاسع عشر", "the nineteenth century"),  # the adjective after its noun in Arabic, before it in English
    ("في القرن الحادي والعشرين", "in the twenty-first century"),
    ("الجولة الثانية", None),  # الجولة is no table's word: the model renders it
    ("الثانية", "second"),
    ("إليزابيث الثانية", "Elizabeth II"),  # after a name, a regnal number
    ("عشرين", None),  # without the article a number, not an ordinal: left to the model
    ("في القرن", "in century"),  # the century's word last, with no ordinal after it
])
def test_ordinals_by_table(phrase: str, english: str | None) -> None:
    assert rendering.by_lookup(phrase, {"إليزابيث": "Elizabeth"}) == english


def test_an_identity_question_avoids_starting_at_the_name_it_asks_about() -> None:
    from rag.quoting import is_identity

    assert is_identity("Who is Naryshkin?") and is_identity("من هو أوشاكوف؟") and is_identity("سوليفان") and not is_identity("من التقى بيرنز؟")
    sentence = "ناريشكين رئيس جهاز الاستخبارات الخارجية الروسي"
    grammar = spans.grammar([sentence], spans.held_words("من هو ناريشكين؟"))
    assert grammar.splitlines()[0] == "root ::= s0x1 | s0x2 | s0x3 | s0x4 | s0x5"  # not at word 0, the name
    assert spans.grammar([sentence], spans.held_words(sentence)).splitlines()[0].count("|") == 5  # every word held: all may start


def test_a_phrase_chosen_twice_is_listed_once() -> None:
    assert spans.distinct("ريتشارد وريتشارد", ["ريتشارد", "توماس غراهام"]) == "ريتشارد"
    assert spans.distinct("ريتشارد وتوماس غراهام", ["ريتشارد", "توماس غراهام"]) == "ريتشارد وتوماس غراهام"

"""English spellings of Arabic-script names. The dev list (tests/data/names_dev.tsv) holds
names and places that are not in the seed articles."""

from pathlib import Path

import pytest

from rag import names

DEV = [line.split("\t") for line in (Path(__file__).parent / "data" / "names_dev.tsv").read_text(encoding="utf-8").splitlines() if line]


def test_dev_list_accuracy() -> None:
    right = sum(1 for ar, en in DEV if (s := names.spell(ar)) and s.english.lower() == en.lower())
    assert right / len(DEV) >= 0.65, right / len(DEV)


@pytest.mark.parametrize(("arabic", "english"), [("ميدفيديف", "Medvedev"), ("لوكاشينكو", "Lukashenko"), ("ماكرون", "Macron"), ("بلينكن", "Blinken")])
def test_known_names(arabic: str, english: str) -> None:
    assert names.spell(arabic).english == english


def test_sounds_are_keyed_alike_in_both_scripts() -> None:
    assert names._skeleton(names.arabic_key("باتروشيف")) == names._skeleton(names.english_key("patrushev"))
    assert names._skeleton(names.arabic_key("تشارلز")) == names._skeleton(names.english_key("charles"))


@pytest.mark.parametrize("word", ["كان", "قال", "الحكومة", "مستشار", "في", "و"])
def test_arabic_vocabulary_is_not_a_name(word: str) -> None:
    assert not names.is_name_like(word)


def test_glossary_groups_name_runs_and_drops_the_and_prefix() -> None:
    g = names.glossary("واجتمع ميدفيديف مع لوكاشينكو وماكرون")
    assert g.get("ميدفيديف") == "Medvedev"
    assert g.get("لوكاشينكو") == "Lukashenko"
    assert "Macron" in g.values()


@pytest.mark.parametrize("word", ["ظاهرة", "ديانة", "إعدام", "ميزان", "عددهم", "والتصعيد"])
def test_inflected_vocabulary_is_not_a_name(word: str) -> None:
    # each aligns with an English name (Sarah, Diana, Adam, Mason, ...) but inflects like Arabic vocabulary
    assert not names.is_name_like(word)


@pytest.mark.parametrize("word", ["يتغير", "طالبت", "مرتين", "يضمن", "قائداً", "عظيماً"])
def test_affixed_and_indefinite_vocabulary_is_not_a_name(word: str) -> None:
    # Arabic Wikipedia words read as Tiger, Talbot, Martin, Admin, Qaeda, Semi: one verb prefix or
    # inflection suffix away from a common word, or carrying an indefinite ending
    assert not names.is_name_like(word)


def test_name_runs_end_at_punctuation_and_are_found_in_the_text() -> None:
    text = "ورئيس أركان القوات الروسية فاليري غيراسيموف، منعا من استهدافهم. وبعد لقاء بوتين وماكرون في بموسكو"
    g = names.glossary(text)
    assert g.get("فاليري غيراسيموف", "").endswith("Gerasimov")
    assert all(arabic in text for arabic in g)  # each entry can annotate the text it came from


def test_dev_names_survive_the_vocabulary_tests() -> None:
    name_like = sum(names.is_name_like(ar) for ar, _ in DEV)
    assert name_like / len(DEV) >= 0.65, name_like / len(DEV)


def test_places_come_from_cldr_with_clitics_and_multiword_names() -> None:
    g = names.glossary("اجتماع في ليتوانيا ثم بموسكو، ووفد من الولايات المتحدة والاتحاد الأوروبي إلى فيينا")
    assert g.get("ليتوانيا") == "Lithuania"
    assert g.get("بموسكو") == "Moscow"
    assert g.get("الولايات المتحدة") == "United States"
    assert g.get("والاتحاد الأوروبي") == "European Union"
    assert g.get("فيينا") == "Vienna"


def test_place_names_that_are_also_vocabulary_are_not_cities() -> None:
    assert names.place(["نوم", "عميق"]) is None  # "deep sleep", not Nome

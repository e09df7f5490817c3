"""The chat UI in a real browser (Debian's headless Chromium driven by Playwright)
with the real models: streaming answers, direction, clickable citations,
two sessions at once. Screenshots go to test-artifacts/."""

import pytest
from serving import app_process

from rag.settings import REPO_ROOT

pytestmark = [pytest.mark.models, pytest.mark.browser]
ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def server(real_index, real_settings):
    with app_process({"RAG_INDEX_DIR": str(real_settings.index_dir)}) as url:
        yield url


def _ask(page, question: str, n: int, reading: list[str] | None = None) -> object:
    """Type a question, send it, wait for the n-th finished answer (it shows timings);
    `reading` collects the article of the quote, shown first (as the model works)."""
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    page.wait_for_selector(f".msg.bot >> nth={n - 1}", timeout=60_000)
    answer = page.locator(".msg.bot").nth(n - 1)
    if reading is not None:
        answer.locator(".quote").first.wait_for(timeout=240_000)
        reading += answer.locator(".quote .source").all_inner_texts()
    answer.locator(".timing").wait_for(timeout=240_000)
    assert answer.locator(".reading").count() == 0  # the answer's sources replace it
    return answer


def test_ask_in_both_languages_and_open_a_citation(server, browser) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(server)
    assert "articles" in page.locator("#status").inner_text()

    read: list[str] = []
    ar = _ask(page, "مع من تحدث سوليفان؟", 1, read)
    assert "أوشاكوف" in ar.inner_text()
    cited = ar.locator(".sources summary").first.inner_text()
    assert read and any(line.split(" · ")[0].split("] ")[-1] in cited for line in read), (read, cited)  # the quote shown first is from the cited article
    assert ar.evaluate("e => getComputedStyle(e).direction") == "rtl"
    page.screenshot(path=str(ARTIFACTS / "ui-arabic.png"), full_page=True)

    en = _ask(page, "Who did Sullivan talk to?", 2)
    assert "Ushakov" in en.inner_text() or "Patrushev" in en.inner_text()  # a person Sullivan talked to
    assert en.evaluate("e => getComputedStyle(e).direction") == "ltr"

    link = en.locator("a.cite").first
    target = link.get_attribute("href")[1:]
    link.click()
    passage = page.locator(f"#{target}")
    page.wait_for_function(f"document.getElementById('{target}').open === true", timeout=5_000)
    mark = passage.locator("mark")
    assert mark.is_visible() and mark.inner_text().strip()
    page.screenshot(path=str(ARTIFACTS / "ui-english-citation.png"), full_page=True)

    page.locator("#new-chat").click()
    page.wait_for_function("document.querySelectorAll('.msg').length === 0", timeout=10_000)
    page.close()


def test_model_text_is_escaped(server, browser) -> None:
    page = browser.new_page()
    page.goto(server)
    question = "<img src=http://127.0.0.1:9/x.png onerror=alert(1)> مع من تحدث سوليفان؟"
    _ask(page, question, 1)
    assert page.locator(".conv img").count() == 0
    assert "<img" in page.locator(".msg.user").first.inner_text()
    page.close()


def test_two_sessions_at_once(server, browser) -> None:
    cases = [("مع من تحدث سوليفان؟", "أوشاكوف"), ("أين جرت محادثات مديري الاستخبارات الأميركية والروسية؟", "أنقرة")]
    contexts = [browser.new_context() for _ in cases]
    pages = [c.new_page() for c in contexts]
    for page in pages:
        page.goto(server)
    for page, (question, _) in zip(pages, cases, strict=True):
        page.locator("#question textarea").fill(question)
    for page in pages:
        page.locator("#ask").click()
    texts = []
    for page in pages:
        answer = page.locator(".msg.bot").first
        answer.locator(".timing").wait_for(timeout=300_000)
        texts.append(answer.inner_text())
    for text, (_, expected) in zip(texts, cases, strict=True):
        assert expected in text, text
    for c in contexts:
        c.close()

"""The embeddable widget in a real browser: a wiki page served on another
port adds the assistant with one script tag; the chat in its iframe answers
with the real models and clickable citations. A page from an origin not in
the frame_ancestors allow-list gets no assistant: the browser refuses to
frame it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from serving import free_port, running
from test_ui_browser import ARTIFACTS

from rag.server import create_app

pytestmark = [pytest.mark.models, pytest.mark.browser]
TOKEN = "wiki-token-123"


def _wiki(api: str) -> FastAPI:
    page = FastAPI()

    @page.get("/")
    def home() -> HTMLResponse:
        return HTMLResponse(f"""<!doctype html><html><head><title>Team wiki</title></head>
<body><h1>Team wiki</h1><p>Ask the news assistant with the button below.</p>
<script src="{api}/widget.js" data-token="{TOKEN}" defer></script></body></html>""")

    return page


@pytest.fixture(scope="module")
def sites(real_settings, real_assistant):
    allowed_port, foreign_port = free_port(), free_port()
    s = real_settings.__class__(**{**real_settings.__dict__, "api_tokens": TOKEN, "frame_ancestors": f"http://127.0.0.1:{allowed_port}"})
    with running(create_app(s, real_assistant, ui=False)) as api:
        with running(_wiki(api), allowed_port) as wiki, running(_wiki(api), foreign_port) as foreign:
            yield api, wiki, foreign


def test_widget_on_an_allowed_wiki_answers_with_citations(sites, browser) -> None:
    api, wiki, _ = sites
    page = browser.new_page()
    try:
        page.goto(wiki)
        page.click("#rag-widget-button")
        frame = page.frame_locator("#rag-widget-frame")
        frame.locator("#question").fill("مع من تحدث سوليفان؟")
        frame.locator("#ask").click()
        quote = frame.locator(".msg.bot .quote").first
        quote.wait_for(timeout=180_000)  # the sentence the answer comes from, shown first
        shown = quote.locator(".source").inner_text()
        cite = frame.locator(".msg.bot a.cite").first
        cite.wait_for(timeout=180_000)
        answer = frame.locator(".msg.bot").last
        assert answer.get_attribute("dir") == "rtl" and answer.get_attribute("data-lang") == "ar"
        assert "أوشاكوف" in answer.inner_text()
        cited = answer.locator(".sources summary").first.inner_text()
        assert shown.split(" · ")[0].split("] ")[-1] in cited, (shown, cited)  # the quote's article is the cited one
        cite.click()
        opened = frame.locator(".sources details[open]")
        opened.wait_for(timeout=5_000)
        assert opened.locator("mark").inner_text().strip()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "embed-widget.png"))
    finally:
        page.close()


def test_foreign_origin_cannot_frame_the_assistant(sites, browser) -> None:
    _, _, foreign = sites
    page = browser.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "frame-ancestors" in m.text else None)
    try:
        page.goto(foreign)
        page.click("#rag-widget-button")
        page.wait_for_timeout(2_000)
        frame = next(f for f in page.frames if f != page.main_frame)
        assert frame.url.startswith("chrome-error://") or frame.locator("#question").count() == 0
        assert refused, "the browser should report the frame-ancestors refusal"
    finally:
        page.close()

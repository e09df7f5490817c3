"""The Gradio chat UI.

The conversation is rendered here as escaped HTML (never model-made markup):
each message takes its own direction (Arabic right-to-left, English
left-to-right, `unicode-bidi: plaintext` for mixed lines), [n] markers are
links that open the cited passage with the supporting sentence highlighted,
and citations that did not verify are marked. Model text cannot inject
markup, images or links: everything it writes is escaped.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from .answering import Answer, Assistant, Quote, Reading, Token, load_assistant
from .errors import RagError
from .settings import Settings
from .text import detect_language

log = logging.getLogger(__name__)

EXAMPLES = ["Who did Sullivan talk to?", "مع من تحدث سوليفان؟", "Where did the CIA director meet his Russian counterpart?", "ماذا طلب أوستن من شويغو؟"]
_MARKER = re.compile(r"\[(\d{1,3})\]")

CSS = """
#chat { min-height: 380px; }
.conv { display: flex; flex-direction: column; gap: 10px; font-size: 16px; }
.msg { padding: 10px 14px; border-radius: 12px; max-width: 92%; unicode-bidi: plaintext; line-height: 1.7; white-space: pre-wrap; }
.msg.user { align-self: flex-end; background: #e8f0fe; }
.msg.bot { align-self: flex-start; background: #f4f4f5; }
.msg.refused { border: 1px dashed #a1a1aa; color: #52525b; }
.msg.error { background: #fef2f2; color: #991b1b; }
.msg .status { color: #71717a; font-style: italic; }
a.cite { text-decoration: none; font-weight: 600; color: #1d4ed8; cursor: pointer; padding: 0 1px; }
a.cite.unverified { color: #b45309; }
.sources { margin-top: 8px; font-size: 14px; }
.sources details { margin: 4px 0; padding: 4px 8px; border-inline-start: 3px solid #93c5fd; background: #fff; border-radius: 6px; }
.sources details.unverified { border-inline-start-color: #f59e0b; }
.sources details:target, .sources details[open] { box-shadow: 0 0 0 2px #bfdbfe; }
.sources .passage { unicode-bidi: plaintext; white-space: pre-wrap; }
.sources mark { background: #fde68a; padding: 0 2px; }
.badge { font-size: 12px; color: #b45309; }
.timing { font-size: 12px; color: #a1a1aa; margin-top: 4px; }
.reading { margin-top: 6px; font-size: 13px; color: #71717a; border-inline-start: 3px solid #e4e4e7; padding-inline-start: 8px; }
.quote { margin: 0 0 8px 0; padding: 6px 10px; border-inline-start: 3px solid #60a5fa; background: #fff; border-radius: 6px; unicode-bidi: plaintext; }
.closest { margin-top: 8px; font-size: 12px; color: #71717a; }
.thin { margin-top: 6px; font-size: 12px; color: #b45309; }
.quote .source { display: block; font-size: 12px; color: #71717a; margin-top: 2px; }
mark.phrase, .sources mark .phrase { background: #fbbf24; font-weight: 600; padding: 0 2px; }
.answer { font-weight: 600; }
"""

# Opens the cited passage when a [n] marker is clicked (anchors also work without it).
HEAD = """<script>
document.addEventListener('click', function (e) {
  const a = e.target.closest('a.cite');
  if (!a) return;
  e.preventDefault();
  const d = document.getElementById(a.getAttribute('href').slice(1));
  if (d) { d.open = true; d.scrollIntoView({block: 'nearest'}); }
});
</script>"""


def _dir(text: str) -> str:
    return "rtl" if detect_language(text) == "ar" else "ltr"


def render_quote(quote: Quote, turn: int | None = None) -> str:
    """The sentence an answer comes from, its phrase marked once known, with its article (a link to the passage in a finished answer)."""
    if quote.phrase_start is not None and quote.phrase_end is not None:
        body = (html.escape(quote.text[: quote.phrase_start]) + '<mark class="phrase">' + html.escape(quote.text[quote.phrase_start : quote.phrase_end])
                + "</mark>" + html.escape(quote.text[quote.phrase_end :]))
    else:
        body = html.escape(quote.text)
    source = html.escape(quote.title) + (" · " + html.escape(quote.date) if quote.date else "")
    if turn is not None:
        source = f'<a class="cite" href="#p-{turn}-{quote.n}">[{quote.n}]</a> ' + source
    return f'<blockquote class="quote" dir="auto">«{body}»<span class="source" dir="auto">{source}</span></blockquote>'


def render_answer(answer: Answer, turn: int) -> str:
    """One assistant message: the quote it comes from, escaped text, clickable markers, sources, timings."""
    supported = {c.n: c.supported for c in answer.citations}

    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n not in supported:
            return ""
        cls = "cite" if supported[n] else "cite unverified"
        title = "" if supported[n] else ' title="not verified against the passage"'
        return f'<a class="{cls}" href="#p-{turn}-{n}"{title}>[{n}]</a>'

    body = _MARKER.sub(link, html.escape(answer.answer))
    classes = "msg bot refused" if answer.refused else "msg bot"
    parts = [f'<div class="{classes}" dir="{_dir(answer.answer)}" data-lang="{answer.language}">']
    if answer.quote is not None and not answer.refused:
        parts.append(render_quote(answer.quote, turn))
    if answer.refused:
        parts.append('<span class="badge">Not in the articles · ليس في المقالات</span><br>')
    parts.append(f'<span class="answer">{body}</span>' if answer.quote is not None else body)
    if answer.thin:  # the evidence may not answer: the reader checks the quote
        parts.append('<div class="thin" dir="auto">Thin evidence: the quote may not answer this · الأدلة ضعيفة: قد لا يجيب الاقتباس عن السؤال</div>')
    if answer.refused and answer.quote is not None:  # the closest the articles come, for the user to judge by
        parts.append('<div class="closest" dir="auto">Closest · الأقرب</div>' + render_quote(answer.quote))
    if answer.citations:
        parts.append('<div class="sources">')
        for c in answer.citations:
            sentence = html.escape(c.quote)
            q = answer.quote
            if q is not None and q.n == c.n and q.phrase_start is not None and q.phrase_end is not None:
                sentence = (html.escape(q.text[: q.phrase_start]) + '<span class="phrase">' + html.escape(q.text[q.phrase_start : q.phrase_end]) + "</span>"
                            + html.escape(q.text[q.phrase_end :]))
            quote = html.escape(c.text[: c.start]) + "<mark>" + sentence + "</mark>" + html.escape(c.text[c.end :])
            cls = "" if c.supported else ' class="unverified"'
            badge = "" if c.supported else ' <span class="badge">⚠ not verified</span>'
            parts.append(
                f'<details id="p-{turn}-{c.n}"{cls}><summary dir="auto">[{c.n}] {html.escape(c.title)} · {html.escape(c.date or "")} {badge}</summary>'
                f'<div class="passage" dir="rtl">{quote}</div></details>'
            )
        parts.append("</div>")
    t = answer.timings
    quote_at = f"quote {t.quote_ms / 1000:.1f} s · " if t.quote_ms is not None else ""
    parts.append(f'<div class="timing" dir="ltr">retrieval {t.retrieve_ms:.0f} ms · {quote_at}first token {t.ttft_ms / 1000:.1f} s · total {t.total_ms / 1000:.1f} s</div>')
    parts.append("</div>")
    return "".join(parts)


def render(turns: list[dict[str, Any]]) -> str:
    """The whole conversation as HTML."""
    out = ['<div class="conv">']
    for i, turn in enumerate(turns):
        q = turn["question"]
        out.append(f'<div class="msg user" dir="{_dir(q)}">{html.escape(q)}</div>')
        if turn.get("error"):
            out.append(f'<div class="msg bot error" dir="auto">{html.escape(turn["error"])}</div>')
        elif turn.get("answer") is not None:
            out.append(render_answer(turn["answer"], i))
        else:
            partial = turn.get("partial", "")
            status = turn.get("status", "")
            text = html.escape(_MARKER.sub(r"[\1]", partial)) if partial else f'<span class="status">{html.escape(status)}</span>'
            reading = "".join(f'<div dir="auto">{html.escape(title)}{" · " + html.escape(date) if date else ""}</div>' for title, date in turn.get("reading", []))
            reading = f'<div class="reading">{reading}</div>' if reading and turn.get("quote") is None else ""
            quote = render_quote(turn["quote"]) if turn.get("quote") is not None else ""
            out.append(f'<div class="msg bot" dir="{_dir(partial or q)}">{quote}{text}{reading}</div>')
    out.append("</div>")
    return "".join(out)


def history_of(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Conversation history for follow-ups: questions and answer texts, no passages."""
    out: list[dict[str, str]] = []
    for turn in turns:
        if turn.get("answer") is not None:
            out += [{"role": "user", "content": turn["question"]}, {"role": "assistant", "content": turn["answer"].answer}]
    return out


def respond(assistant: Assistant, question: str, turns: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]], str]]:
    """Stream one exchange: yields (conversation html, turns, cleared textbox)."""
    history = history_of(turns)
    turn: dict[str, Any] = {"question": (question or "")[: assistant.settings.max_question_chars + 1], "partial": ""}
    turns = [*turns, turn]
    try:
        assistant.check_question(question)
        waiting = assistant.generator.lock.locked()
        if assistant.warming:
            turn["status"] = "Getting the model ready… · جارٍ تجهيز النموذج…"
        else:
            turn["status"] = "Waiting for another answer to finish… · في انتظار انتهاء إجابة أخرى…" if waiting else "Searching the articles… · جارٍ البحث…"
        yield render(turns), turns, ""
        for event in assistant.stream(question, history):
            if isinstance(event, Quote):  # the sentence the answer will come from, before the model runs
                turn["quote"] = event
                turn["status"] = "Finding the answer in it… · جارٍ استخراج الإجابة…"
                yield render(turns), turns, ""
            elif isinstance(event, Reading):  # the model's turn has come: the prompt takes seconds, the sources are known now
                if turn.get("quote") is None:
                    turn["status"] = "Reading the passages… · جارٍ قراءة المقاطع…"
                turn["reading"] = event.articles
                yield render(turns), turns, ""
            elif isinstance(event, Token):
                turn["partial"] += event.text
                yield render(turns), turns, ""
            else:
                turn["answer"] = event
    except RagError as exc:
        turn["error"] = str(exc)
    except Exception:  # a bug must not show a traceback to the user
        log.exception("answering failed")
        turn["error"] = "Something went wrong while answering; the error was logged."
    yield render(turns), turns, ""


def status_line(assistant: Assistant | None, problem: str | None) -> str:
    """Articles, chunks and models in use, or what is wrong."""
    if assistant is None:
        return f"⚠ {problem}"
    m = assistant.index.manifest
    return (f"{m['counts']['documents']} articles · {m['counts']['chunks']} chunks indexed · "
            f"embedding {m['embedding_model']} · generator {assistant.generator.name}")


def build(settings: Settings, assistant: Assistant | None = None, problem: str | None = None,
          current: Callable[[], tuple[Assistant | None, str | None]] | None = None) -> Any:
    """The Gradio Blocks app (an error page when the models or index are missing); with `current`,
    the assistant is asked for at each question and page load (the server loads it again once a
    shared service that was down is up)."""
    import gradio as gr

    if assistant is None and problem is None and current is None:
        try:
            assistant = load_assistant(settings)
        except RagError as exc:
            problem = str(exc)
    with gr.Blocks(title="News QA · أسئلة الأخبار", analytics_enabled=False) as demo:
        gr.Markdown("### Ask the news articles · اسأل المقالات")
        status = gr.Markdown(status_line(assistant, problem), elem_id="status")
        chat = gr.HTML(render([]), elem_id="chat")
        turns = gr.State([])
        with gr.Row():
            box = gr.Textbox(placeholder="Ask in Arabic or English · اسأل بالعربية أو الإنجليزية", show_label=False, scale=5, max_length=settings.max_question_chars, elem_id="question", rtl=False)
            send = gr.Button("Ask · اسأل", variant="primary", scale=1, elem_id="ask")
        with gr.Row():
            gr.Examples(EXAMPLES, inputs=box, label="Examples · أمثلة")
            new = gr.Button("New chat · محادثة جديدة", scale=0, elem_id="new-chat")

        def now() -> tuple[Assistant | None, str | None]:
            return current() if current else (assistant, problem)

        def ask(question: str, turns_so_far: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]], str]]:
            serving, why = now()
            if serving is None:
                turn = {"question": question, "error": why}
                yield render([*turns_so_far, turn]), [*turns_so_far, turn], ""
                return
            yield from respond(serving, question, turns_so_far)

        for trigger in (send.click, box.submit):
            trigger(ask, [box, turns], [chat, turns, box], concurrency_limit=settings.queue_size, show_progress="hidden")
        new.click(lambda: (render([]), [], ""), None, [chat, turns, box])
        demo.load(lambda: status_line(*now()), None, status)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=settings.queue_size)
    return demo


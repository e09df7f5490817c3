"""The HTTP server on 127.0.0.1 with the fake embedder and generator: the JSON,
SSE and OpenAI contracts, tokens, CORS, framing, rate and size limits, and the
shared queue."""

from __future__ import annotations

import threading

import httpx
import pytest
from conftest import FakeGenerator, well_behaved
from serving import running, sse_events

from rag.answering import REFUSALS, Assistant
from rag.server import RateLimiter, create_app

ASK_KEYS = {"question", "answer", "refused", "language", "quote", "doubt", "citations", "timings"}
CITATION_KEYS = {"n", "doc_id", "chunk_id", "title", "text", "quote", "start", "end", "supported"}
TIMING_KEYS = {"retrieve_ms", "prompt_tokens", "ttft_ms", "completion_tokens", "total_ms", "quote_ms"}
QUOTE_KEYS = {"n", "doc_id", "chunk_id", "title", "date", "text", "start", "end", "score", "phrase_start", "phrase_end"}


@pytest.fixture
def make_server(settings, fake_index, fake_embedder):
    """Starts the API (no UI) with given settings overrides and generator; stops it after the test."""
    from rag import names

    names.warm()  # the word lists load once per process; a cold first English question would outlast the client timeouts
    stack = []

    def make(respond=well_behaved, **overrides):
        s = settings.__class__(**{**settings.__dict__, "refusal_threshold": 0.1, **overrides})
        assistant = Assistant(s, fake_index, fake_embedder, FakeGenerator(respond, n_ctx=4096))
        ctx = running(create_app(s, assistant, ui=False))
        url = ctx.__enter__()
        stack.append(ctx)
        return url, assistant

    yield make
    for ctx in stack:
        ctx.__exit__(None, None, None)


def _check_answer_object(data: dict) -> None:
    assert set(data) == ASK_KEYS
    assert isinstance(data["answer"], str) and isinstance(data["refused"], bool) and data["language"] in ("ar", "en")
    assert data["doubt"] is None or 0.0 <= data["doubt"] <= 1.0
    assert set(data["timings"]) == TIMING_KEYS
    for c in data["citations"]:
        assert set(c) == CITATION_KEYS
        assert c["text"][c["start"] : c["end"]] == c["quote"]


def test_ask_json_contract(make_server) -> None:
    url, _ = make_server()
    r = httpx.post(f"{url}/api/ask", json={"question": "مع من تحدث سوليفان؟"})
    assert r.status_code == 200
    data = r.json()
    _check_answer_object(data)
    assert data["language"] == "ar" and not data["refused"]
    assert data["citations"] and data["citations"][0]["supported"]


def test_ask_streams_the_quote_then_the_passages_read_then_tokens_then_one_answer_event(make_server) -> None:
    url, _ = make_server()
    with httpx.stream("POST", f"{url}/api/ask", json={"question": "ماذا طلب أوستن من شويغو؟", "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.iter_lines())
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["quote", "passages"] and kinds[-1] == "answer" and kinds.count("answer") == 1 and set(kinds[2:-1]) == {"token"}
    quote, answer = events[0][1], events[-1][1]
    _check_answer_object(answer)
    assert set(quote) == QUOTE_KEYS and quote["phrase_start"] is None  # the phrase is not known yet
    assert answer["quote"]["text"] == quote["text"] and answer["quote"]["doc_id"] == quote["doc_id"]
    q = answer["quote"]
    assert q["text"][q["phrase_start"] : q["phrase_end"]] + " [1]" == answer["answer"]  # the answer is the marked phrase
    assert "".join(d["text"] for k, d in events if k == "token").strip() == answer["answer"]
    read = {(p["n"], p["chunk_id"], p["doc_id"], p["title"]) for p in events[1][1]["passages"]}
    assert {(c["n"], c["chunk_id"], c["doc_id"], c["title"]) for c in answer["citations"]} <= read  # cited as numbered when read


def test_the_passages_design_streams_no_quote(make_server) -> None:
    url, _ = make_server(answer_step="passages")
    with httpx.stream("POST", f"{url}/api/ask", json={"question": "Who did Sullivan talk to?", "stream": True}) as r:
        events = sse_events(r.iter_lines())
    kinds = [k for k, _ in events]
    assert kinds[0] == "passages" and kinds[-1] == "answer" and "quote" not in kinds and events[-1][1]["quote"] is None


def test_history_is_used_for_follow_ups(make_server) -> None:
    url, assistant = make_server()
    history = [{"role": "user", "content": "متى اتصل أوستن بشويغو؟"}, {"role": "assistant", "content": "في مايو [1]"}]
    r = httpx.post(f"{url}/api/ask", json={"question": "وماذا طلب منه؟", "history": history})
    assert r.status_code == 200
    prompt = assistant.generator.calls[-1][-1]["content"]
    assert "متى اتصل أوستن بشويغو؟" in prompt  # the previous question made the follow-up standalone


@pytest.mark.parametrize("body, status", [
    ({"question": ""}, 400),
    ({"question": "   "}, 400),
    ({"question": "?!…"}, 400),
    ({"question": "x" * 5000}, 400),
    ({"question": 5}, 422),
    ({"nothing": 1}, 422),
])
def test_bad_questions_are_clear_json_errors(make_server, body, status) -> None:
    url, assistant = make_server()
    r = httpx.post(f"{url}/api/ask", json=body)
    assert r.status_code == status
    payload = r.json()
    assert payload.get("error") or payload.get("detail")
    assert assistant.generator.calls == []


def test_huge_body_is_refused_with_413(make_server) -> None:
    url, _ = make_server(max_request_bytes=4096)
    r = httpx.post(f"{url}/api/ask", json={"question": "س" * 100_000})
    assert r.status_code == 413 and "too large" in r.json()["error"]

    def chunks():  # no Content-Length: the size could not be bounded before reading
        yield b'{"question": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    r = httpx.post(f"{url}/api/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 411 and "Content-Length" in r.json()["error"]


def test_openai_client_non_streaming_and_streaming(make_server) -> None:
    from openai import OpenAI

    url, _ = make_server()
    client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list().data] == ["rag-news"]
    reply = client.chat.completions.create(model="rag-news", messages=[{"role": "user", "content": "مع من تحدث سوليفان؟"}])
    assert reply.choices[0].message.content and reply.choices[0].finish_reason == "stop"
    extra = reply.model_extra or {}
    assert extra["citations"] and set(extra["citations"][0]) == CITATION_KEYS and extra["refused"] is False
    assert reply.usage is not None and reply.usage.prompt_tokens > 0

    stream = client.chat.completions.create(model="rag-news", messages=[{"role": "user", "content": "Who did Sullivan talk to?"}], stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    last = chunks[-1]
    assert text.strip() and last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["citations"]


def test_openai_endpoint_needs_a_user_question_last(make_server) -> None:
    url, _ = make_server()
    r = httpx.post(f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})
    assert r.status_code == 400 and r.json()["error"]


def test_tokens_are_required_everywhere_but_docs_and_widget(make_server) -> None:
    url, _ = make_server(api_tokens="secret-one, secret-two")
    question = {"question": "مع من تحدث سوليفان؟"}
    assert httpx.post(f"{url}/api/ask", json=question).status_code == 401
    assert httpx.post(f"{url}/api/ask", json=question, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{url}/api/health").status_code == 401
    assert httpx.get(f"{url}/embed").status_code == 401
    assert httpx.post(f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}).status_code == 401
    assert httpx.post(f"{url}/api/ask", json=question, headers={"Authorization": "Bearer secret-two"}).status_code == 200
    assert httpx.get(f"{url}/embed?token=secret-one").status_code == 200
    assert httpx.get(f"{url}/widget.js").status_code == 200 and httpx.get(f"{url}/openapi.json").status_code == 200


def test_cors_refuses_foreign_origins_and_allows_listed_ones(make_server) -> None:
    url, _ = make_server(cors_origins="http://wiki.internal:8090")
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,authorization"}
    foreign = httpx.options(f"{url}/api/ask", headers={"Origin": "http://evil.example", **preflight})
    assert foreign.status_code == 400 and "access-control-allow-origin" not in foreign.headers
    simple = httpx.post(f"{url}/api/ask", json={"question": "مع من تحدث سوليفان؟"}, headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    allowed = httpx.options(f"{url}/api/ask", headers={"Origin": "http://wiki.internal:8090", **preflight})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "http://wiki.internal:8090"


def test_cors_is_closed_by_default(make_server) -> None:
    url, _ = make_server()
    r = httpx.options(f"{url}/api/ask", headers={"Origin": "http://wiki.internal", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_rate_limit_answers_429_with_retry_after(make_server) -> None:
    url, _ = make_server(rate_limit=3)
    statuses = [httpx.post(f"{url}/api/ask", json={"question": "مع من تحدث سوليفان؟"}).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    r = httpx.post(f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    assert httpx.get(f"{url}/api/health").status_code == 200  # only questions count


def test_rate_limit_is_per_token(make_server) -> None:
    url, _ = make_server(rate_limit=1, api_tokens="a,b")
    q = {"question": "مع من تحدث سوليفان؟"}
    assert httpx.post(f"{url}/api/ask", json=q, headers={"Authorization": "Bearer a"}).status_code == 200
    assert httpx.post(f"{url}/api/ask", json=q, headers={"Authorization": "Bearer a"}).status_code == 429
    assert httpx.post(f"{url}/api/ask", json=q, headers={"Authorization": "Bearer b"}).status_code == 200


def test_rate_limiter_window_slides() -> None:
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.check("k") == 0 and limiter.check("k") == 0
    assert limiter.check("k") == pytest.approx(60.0)
    now[0] = 30.0
    assert limiter.check("k") == pytest.approx(30.0) and limiter.check("other") == 0
    now[0] = 60.5
    assert limiter.check("k") == 0


def test_embed_may_be_framed_only_by_listed_origins(make_server) -> None:
    url, _ = make_server(frame_ancestors="http://wiki.internal:8090")
    embed = httpx.get(f"{url}/embed")
    assert embed.status_code == 200 and "text/html" in embed.headers["content-type"]
    csp = embed.headers["content-security-policy"]
    assert "frame-ancestors 'self' http://wiki.internal:8090" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'self'" == httpx.get(f"{url}/api/health").headers["content-security-policy"]
    widget = httpx.get(f"{url}/widget.js")
    assert widget.status_code == 200 and "javascript" in widget.headers["content-type"] and "embed" in widget.text


def test_health_reports_index_generator_and_queue(make_server) -> None:
    url, assistant = make_server()
    h = httpx.get(f"{url}/api/health").json()
    assert h["status"] == "ok"
    assert h["index"]["articles"] == 5 and h["index"]["chunks"] == len(assistant.index.chunks)
    assert h["index"]["embedding_model"] == assistant.index.manifest["embedding_model"]
    assert h["generator"]["name"] == "fake" and h["queue"] == {"waiting": 0, "size": assistant.settings.queue_size}


def test_openapi_documents_the_api(make_server) -> None:
    url, _ = make_server()
    spec = httpx.get(f"{url}/openapi.json").json()
    assert {"/api/ask", "/v1/chat/completions", "/api/health"} <= set(spec["paths"])
    assert "AskResponse" in spec["components"]["schemas"]
    assert httpx.get(f"{url}/docs").status_code == 200


def test_full_queue_answers_503_with_retry_after(make_server) -> None:
    release = threading.Event()

    def slow(messages):
        release.wait(20)
        return well_behaved(messages)

    url, assistant = make_server(slow, queue_size=1)
    q = {"question": "مع من تحدث سوليفان؟"}
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(httpx.post(f"{url}/api/ask", json=q, timeout=30).status_code)) for _ in range(2)]
    threads[0].start()
    while not assistant.generator.lock.locked():  # the first question is generating
        threading.Event().wait(0.02)
    threads[1].start()
    while assistant.queue_length < 1:  # the second waits in the queue
        threading.Event().wait(0.02)
    r = httpx.post(f"{url}/api/ask", json=q)
    assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0 and r.json()["error"]
    with httpx.stream("POST", f"{url}/api/ask", json={**q, "stream": True}) as s:
        assert s.status_code == 503
    release.set()
    for t in threads:
        t.join(30)
    assert results == [200, 200]


def test_refusal_over_the_api(make_server) -> None:
    url, _ = make_server(refusal_threshold=0.99)
    data = httpx.post(f"{url}/api/ask", json={"question": "What is the price of oil today?"}).json()
    assert data["refused"] and data["answer"] == REFUSALS["en"] and data["citations"] == []


@pytest.mark.parametrize(("error", "status", "retryable"), [("GenerationError", 500, False), ("GeneratorUnavailable", 503, True)])
def test_generation_error_mid_stream_becomes_an_error_event(make_server, error: str, status: int, retryable: bool) -> None:
    """A failed generation is an error event (streaming) or an error status; one a retry may mend (the model server is down) says so."""
    from rag import errors

    def broken(messages):
        raise getattr(errors, error)("Generator server unreachable")

    url, _ = make_server(broken)
    with httpx.stream("POST", f"{url}/api/ask", json={"question": "Who did Sullivan talk to?", "stream": True}) as r:
        events = sse_events(r.iter_lines())
    assert events[-1] == ("error", {"error": "Generator server unreachable", "retryable": retryable})
    r = httpx.post(f"{url}/api/ask", json={"question": "Who did Sullivan talk to?"})
    assert r.status_code == status and r.json()["error"] == "Generator server unreachable"
    assert ("Retry-After" in r.headers) is retryable


def test_ui_is_mounted_and_behind_the_token(settings, fake_index, fake_embedder) -> None:
    from rag import names

    names.warm()
    s = settings.__class__(**{**settings.__dict__, "api_tokens": "ui-token"})
    assistant = Assistant(s, fake_index, fake_embedder, FakeGenerator(well_behaved))
    with running(create_app(s, assistant, ui=True)) as url:
        assert httpx.get(f"{url}/").status_code == 401
        with httpx.Client() as browser:
            first = browser.get(f"{url}/?token=ui-token")
            assert first.status_code == 200 and "gradio" in first.text.lower()
            assert browser.cookies.get("rag_token") == "ui-token"
            assert browser.get(f"{url}/config").status_code == 200  # later UI requests carry the cookie
        assert httpx.get(f"{url}/config").status_code == 401
        assert httpx.get(f"{url}/api/health", headers={"Authorization": "Bearer ui-token"}).status_code == 200


def test_a_server_that_loads_its_assistant_warms_it_up_without_waiting_for_it(settings, fake_index, fake_embedder, monkeypatch) -> None:
    import rag.server

    release = threading.Event()
    released: list[bool] = []
    generator = FakeGenerator(lambda m: "?" if released.append(release.wait(10)) is None else "")
    assistant = Assistant(settings, fake_index, fake_embedder, generator)
    monkeypatch.setattr(rag.server, "load_assistant", lambda s: assistant)
    with running(create_app(settings, ui=False)) as url:
        for _ in range(100):
            if generator.calls:
                break
            threading.Event().wait(0.05)
        health = httpx.get(f"{url}/api/health")  # served while the warm-up is held up
        assert health.status_code == 200 and health.json()["generator"]["warming_up"]
        release.set()
        for _ in range(100):
            if not assistant.warming:
                break
            threading.Event().wait(0.05)
        assert not httpx.get(f"{url}/api/health").json()["generator"]["warming_up"]
        for _ in range(100):  # then it embeds what English questions embed: clauses and names
            if assistant.english.vectors:
                break
            threading.Event().wait(0.05)
        assert assistant.english.vectors
    from rag import rendering, spans

    systems = [m[0]["content"] for m in generator.calls]
    assert [m[0]["role"] for m in generator.calls] == ["system"] * 4 and {spans.SPAN_SYSTEM, spans.YES_NO_SYSTEM, rendering.RENDER_SYSTEM, spans.CLAUSE_SYSTEM} == set(systems)
    assert released == [True] * 4  # the warm-up waited for the server to answer, not the other way round

"""One HTTP server: the JSON/SSE API, an OpenAI-compatible endpoint, the
embeddable chat page and widget, and the Gradio UI mounted at `/`.

    POST /api/ask               {"question", "history", "stream"} → the `rag ask --json` object,
                                or server-sent events: a `quote` event (the sentence the answer
                                will come from) as soon as retrieval is done, a `passages` event
                                (what the model reads) when the model is asked, `token` events,
                                one `answer` event
    POST /v1/chat/completions   OpenAI chat completions (streaming or not); citations in an extra field
    GET  /v1/models             the one model this server answers as
    GET  /api/health            index, generator and queue
    GET  /embed                 a light chat page for an iframe
    GET  /widget.js             one script tag that adds a chat bubble to any page
    GET  /docs, /openapi.json   API documentation

Access control, in the order a request meets it: CORS (allow-list, none by
default), the request size limit, bearer tokens (when set, every request but the
docs and widget.js needs one: an `Authorization: Bearer` header, or a
`token` query parameter that the UI keeps in a cookie), and a per-token (or
per-client) rate limit on questions. Request bodies are limited in size. Pages may be framed only by this
server, except /embed, which the `frame_ancestors` allow-list opens.

The assistant's generator lock and bounded queue are shared by the API and
the UI: a full queue answers 503 with Retry-After.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from importlib import resources
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .answering import Answer, Assistant, Event, Quote, Reading, Token, load_assistant
from .errors import QuestionError, RagError, Unavailable
from .settings import Settings

log = logging.getLogger(__name__)

MODEL_NAME = "rag-news"
TOKEN_COOKIE = "rag_token"
OPEN_PATHS = {"/docs", "/docs/oauth2-redirect", "/openapi.json", "/widget.js", "/embed.js", "/embed.css"}
QUESTION_PATHS = {"/api/ask", "/v1/chat/completions"}


# Request and response bodies ------------------------------------------------


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="The question, in Arabic or English.")
    history: list[ChatMessage] = Field(default_factory=list, description="Earlier messages of the conversation, oldest first.")
    stream: bool = Field(False, description="Answer as server-sent events: a `quote` event as soon as retrieval is done (the sentence the answer will come from: n, doc_id, chunk_id, title, date, text, start, end), a `passages` event when the model is asked (the passages it reads: n, doc_id, chunk_id, title, date), `token` events, then one `answer` event (its `quote` marks the phrase that answers: phrase_start, phrase_end).")


class CitationOut(BaseModel):
    n: int
    doc_id: str
    chunk_id: str
    title: str
    text: str
    quote: str
    start: int
    end: int
    supported: bool


class TimingsOut(BaseModel):
    retrieve_ms: float
    prompt_tokens: int
    ttft_ms: float
    completion_tokens: int
    total_ms: float
    quote_ms: float | None = None


class QuoteOut(BaseModel):
    n: int = Field(description="The passage number the answer cites it by.")
    doc_id: str
    chunk_id: str
    title: str
    date: str | None
    text: str = Field(description="The sentence the answer is taken from.")
    start: int = Field(description="Where the sentence starts in its passage (the citation's text).")
    end: int
    score: float = Field(description="The ranking's score of the sentence (higher: a surer choice; not a probability).")
    phrase_start: int | None = Field(None, description="Where the phrase that answers starts in the sentence (in the answer; not in the quote event).")
    phrase_end: int | None = None


class AskResponse(BaseModel):
    question: str
    answer: str
    refused: bool
    language: Literal["ar", "en"]
    quote: QuoteOut | None = Field(None, description="The sentence the answer is taken from, its phrase marked; of a refusal, the closest sentence the articles have (for the reader to judge the refusal by).")
    doubt: float | None = Field(None, description="The fitted probability that the articles do not answer the question (0–1; from 0.5 the answer rests on thin evidence); null in the passages design.")
    citations: list[CitationOut]
    timings: TimingsOut


class ChatRequest(BaseModel):
    """An OpenAI chat completion request; fields other than these are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    stream: bool = False


class ErrorOut(BaseModel):
    error: str


# Middleware -------------------------------------------------------------------


class RateLimiter:
    """At most `per_minute` events per key in any 60-second window."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> float:
        """0 when allowed (and counted); otherwise seconds until the next is allowed."""
        if self.per_minute <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - 60.0:
                events.popleft()
            if len(events) >= self.per_minute:
                return max(0.001, events[0] + 60.0 - now)
            events.append(now)
            if len(self._events) > 10_000:  # forget idle clients
                self._events = {k: v for k, v in self._events.items() if v and v[-1] > now - 60.0}
            return 0.0


def _presented_token(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE) or ""


def _valid(token: str, tokens: list[str]) -> bool:
    return bool(token) and any(secrets.compare_digest(token.encode(), t.encode()) for t in tokens)


def _frame_policy(settings: Settings, path: str) -> str:
    if path == "/embed":
        return " ".join(["'self'", *Settings.split(settings.frame_ancestors)])
    return "'self'"


# The application -------------------------------------------------------------


class Service:
    """What the endpoints share: the assistant (or why it could not load) and the limiter.

    An assistant that could not load because a shared service (the index database, the model
    server) was down is loaded again by the next request, at most every RELOAD_EVERY seconds,
    so a replica started before its database comes up by itself."""

    RELOAD_EVERY = 5.0

    def __init__(self, settings: Settings, assistant: Assistant | None, problem: str | None, retry: bool = False) -> None:
        self.settings = settings
        self.assistant = assistant
        self.problem = problem
        self.limiter = RateLimiter(settings.rate_limit)
        self._retry = retry and assistant is None
        self._tried = time.monotonic()
        self._loading = threading.Lock()

    def current(self) -> tuple[Assistant | None, str | None]:
        """The assistant, or None and why; loads it again when that may now work."""
        if self.assistant is None and self._retry and time.monotonic() - self._tried >= self.RELOAD_EVERY and self._loading.acquire(blocking=False):
            try:
                self._tried = time.monotonic()
                self.assistant = load_assistant(self.settings)
            except RagError as exc:
                self.problem, self._retry = str(exc), isinstance(exc, Unavailable)
            else:
                threading.Thread(target=_warm, args=(self.assistant,), name="warm-up", daemon=True).start()
            finally:
                self._loading.release()
        return self.assistant, self.problem

    def ready(self) -> Assistant:
        assistant, problem = self.current()
        if assistant is None:
            raise _Unavailable(problem or "The assistant is not ready.")
        return assistant


class _Unavailable(Exception):
    pass


def create_app(settings: Settings, assistant: Assistant | None = None, ui: bool = True) -> FastAPI:
    """The FastAPI application; the assistant is loaded from settings when not given."""
    problem, retry = None, False
    if assistant is None:
        try:
            assistant = load_assistant(settings)
        except RagError as exc:
            problem, retry = str(exc), isinstance(exc, Unavailable)
        else:
            threading.Thread(target=_warm, args=(assistant,), name="warm-up", daemon=True).start()
    service = Service(settings, assistant, problem, retry)
    tokens = Settings.split(settings.api_tokens)
    app = FastAPI(
        title="News QA API",
        version="1",
        description="Answers questions about the indexed news articles, in Arabic or English, with verified citations.",
        redoc_url=None,
    )

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_request_bytes:
            return JSONResponse({"error": f"The request is too large (the limit is {settings.max_request_bytes} bytes)."}, status_code=413)
        if "chunked" in request.headers.get("transfer-encoding", "").lower():  # a body must state its length to be bounded
            return JSONResponse({"error": "Send the request with a Content-Length header."}, status_code=411)
        if tokens and path not in OPEN_PATHS:
            token = _presented_token(request)
            if not _valid(token, tokens):
                return JSONResponse({"error": "A valid bearer token is required."}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if path in QUESTION_PATHS and request.method == "POST":
            key = _presented_token(request) if tokens else (request.client.host if request.client else "?")
            wait = service.limiter.check(key)
            if wait:
                return JSONResponse({"error": f"Too many questions; the limit is {settings.rate_limit} a minute."}, status_code=429, headers={"Retry-After": str(math.ceil(wait))})
        response = await call_next(request)
        if tokens and request.query_params.get("token") and path != "/embed":
            response.set_cookie(TOKEN_COOKIE, request.query_params["token"], httponly=True, samesite="strict")
        response.headers.setdefault("Content-Security-Policy", f"frame-ancestors {_frame_policy(settings, path)}")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    origins = Settings.split(settings.cors_origins)
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"], max_age=600)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"Invalid request: {problems}"}, status_code=422)

    @app.exception_handler(_Unavailable)
    async def unavailable(request: Request, exc: _Unavailable) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=503)

    _routes(app, service)
    if ui:
        import gradio as gr

        from . import ui as ui_mod

        demo = ui_mod.build(settings, assistant, problem, current=service.current)
        app = gr.mount_gradio_app(app, demo, path="", css=ui_mod.CSS, head=ui_mod.HEAD, show_error=False, enable_monitoring=False, footer_links=[])
    return app


def _error(exc: RagError) -> JSONResponse:
    if isinstance(exc, Unavailable):
        return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": str(math.ceil(exc.retry_after))})
    status = 400 if isinstance(exc, QuestionError) else 500
    return JSONResponse({"error": str(exc)}, status_code=status)


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _events(events: Iterator[Event], render: Callable[[Event], list[str]], error: Callable[[str, bool], list[str]]) -> Iterator[str]:
    """Rendered events of an answer stream; a failure mid-stream becomes one error event, saying whether asking again may work."""
    try:
        for event in events:
            yield from render(event)
    except RagError as exc:
        yield from error(str(exc), isinstance(exc, Unavailable))
    except Exception:
        log.exception("answering failed")
        yield from error("Something went wrong while answering; the error was logged.", False)


def _start(assistant: Assistant, question: str, history: list[dict[str, str]]) -> Iterator[Event]:
    """Begin an answer; a bad question or a full queue raises here, before any event."""
    assistant.check_question(question)
    assistant.admit()
    return assistant.stream(question, history)


def _routes(app: FastAPI, service: Service) -> None:
    settings = service.settings
    errors: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorOut, "description": "The question cannot be asked"},
        401: {"model": ErrorOut, "description": "Missing or invalid bearer token"},
        413: {"model": ErrorOut, "description": "Request too large"},
        429: {"model": ErrorOut, "description": "Rate limit exceeded (see Retry-After)"},
        503: {"model": ErrorOut, "description": "Queue full (see Retry-After) or assistant not ready"},
    }

    @app.post("/api/ask", response_model=AskResponse, responses=errors, tags=["questions"])
    async def ask(body: AskRequest) -> Any:
        """Answer a question with citations; with `stream`, as server-sent events."""
        assistant = await run_in_threadpool(service.ready)  # may load the assistant again (a shared service back up): off the event loop
        history = [m.model_dump() for m in body.history]
        try:
            events = _start(assistant, body.question, history)
        except RagError as exc:
            return _error(exc)

        def render(event: Event) -> list[str]:
            if isinstance(event, Quote):
                return [_sse("quote", event.to_json())]
            if isinstance(event, Reading):
                return [_sse("passages", event.to_json())]
            if isinstance(event, Token):
                return [_sse("token", {"text": event.text})]
            return [_sse("answer", event.to_json())]

        if body.stream:
            stream = _events(events, render, lambda message, retryable: [_sse("error", {"error": message, "retryable": retryable})])
            return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        try:
            answer = await run_in_threadpool(_last, events)
        except RagError as exc:
            return _error(exc)
        return JSONResponse(answer.to_json())

    @app.post("/v1/chat/completions", responses=errors, tags=["openai"])
    async def chat_completions(body: ChatRequest) -> Any:
        """OpenAI-compatible chat completion. The last user message is the question, earlier
        messages its history; the reply carries `citations` (as in /api/ask) and `refused`."""
        assistant = await run_in_threadpool(service.ready)  # may load the assistant again (a shared service back up): off the event loop
        messages = [m.model_dump() for m in body.messages if m.role != "system"]
        if not messages or messages[-1]["role"] != "user":
            return JSONResponse({"error": "The last message must be the user's question."}, status_code=400)
        question, history = messages[-1]["content"], messages[:-1]
        try:
            events = _start(assistant, question, history)
        except RagError as exc:
            return _error(exc)
        ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            return StreamingResponse(_openai_stream(events, ident, created), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
        try:
            answer = await run_in_threadpool(_last, events)
        except RagError as exc:
            return _error(exc)
        data = answer.to_json()
        return {
            "id": ident, "object": "chat.completion", "created": created, "model": MODEL_NAME,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer}, "finish_reason": "stop"}],
            "usage": _usage(answer),
            "citations": data["citations"], "refused": answer.refused, "language": answer.language, "timings": data["timings"],
        }

    @app.get("/v1/models", tags=["openai"])
    async def list_models() -> dict[str, Any]:
        """The one model this server answers as."""
        return {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "local"}]}

    @app.get("/api/health", tags=["status"])
    async def health() -> dict[str, Any]:
        """Whether the assistant is ready, what it serves, and how many questions wait."""
        a, problem = await run_in_threadpool(service.current)
        if a is None:
            return JSONResponse({"status": "unavailable", "error": problem}, status_code=503)  # type: ignore[return-value]
        m = a.index.manifest
        try:  # the shared services a replica depends on: a load balancer takes a replica out while one is down
            await run_in_threadpool(a.index.ping)
            if ping := getattr(a.generator, "ping", None):
                await run_in_threadpool(ping)
        except RagError as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503, headers={"Retry-After": "5"})  # type: ignore[return-value]
        return {
            "status": "ok",
            "index": {"articles": m["counts"]["documents"], "chunks": m["counts"]["chunks"], "embedding_model": m["embedding_model"], "built_at": m.get("built_at"),
                      "store": m.get("store", "faiss")},
            "generator": {"name": a.generator.name, "backend": settings.generator_backend, "busy": a.generator.lock.locked(), "warming_up": a.warming},
            "queue": {"waiting": a.queue_length, "size": settings.queue_size},
        }

    @app.get("/embed", include_in_schema=False)
    async def embed() -> Response:
        return Response(_static("embed.html"), media_type="text/html; charset=utf-8", headers={
            "Content-Security-Policy": (
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
                f"base-uri 'none'; form-action 'none'; frame-ancestors {_frame_policy(settings, '/embed')}"
            ),
            "Cache-Control": "no-store",
        })

    for name, kind in (("embed.js", "text/javascript"), ("embed.css", "text/css"), ("widget.js", "text/javascript")):
        def serve_static(name: str = name, kind: str = kind) -> Response:
            return Response(_static(name), media_type=f"{kind}; charset=utf-8", headers={"Cache-Control": "no-cache"})

        app.add_api_route(f"/{name}", serve_static, methods=["GET"], include_in_schema=False)


def _warm(assistant: Assistant) -> None:
    """The assistant's warm-up, run beside the server as it starts: a failure there is only logged (the first question pays instead)."""
    try:
        assistant.warm()
        started = time.perf_counter()
        kept = assistant.warm_texts()
        log.info("warm-up: %d clauses and names embedded in %.0f s", kept, time.perf_counter() - started)
    except RagError as exc:  # a generator server not up yet, a full queue: the first question finds out
        log.warning("warm-up skipped: %s", exc)
    except Exception:
        log.exception("warm-up failed")


def _last(events: Iterator[Event]) -> Answer:
    for event in events:
        if isinstance(event, Answer):
            return event
    raise RagError("The answer ended early.")


def _usage(answer: Answer) -> dict[str, int]:
    t = answer.timings
    return {"prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens, "total_tokens": t.prompt_tokens + t.completion_tokens}


def _openai_stream(events: Iterator[Event], ident: str, created: int) -> Iterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": MODEL_NAME,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    def render(event: Event) -> list[str]:
        if isinstance(event, Quote | Reading):
            return []  # the chat completion format has no place for them; the passages come with the citations
        if isinstance(event, Token):
            return [chunk({"content": event.text})]
        data = event.to_json()
        return [chunk({}, "stop", citations=data["citations"], refused=event.refused, language=event.language, timings=data["timings"], usage=_usage(event)), "data: [DONE]\n\n"]

    def error(message: str, retryable: bool) -> list[str]:
        kind = "service_unavailable" if retryable else "server_error"
        return [f"data: {json.dumps({'error': {'message': message, 'type': kind, 'retryable': retryable}})}\n\n", "data: [DONE]\n\n"]

    yield chunk({"role": "assistant", "content": ""})
    yield from _events(events, render, error)


def _static(name: str) -> bytes:
    return resources.files("rag").joinpath("static", name).read_bytes()


def serve(settings: Settings) -> None:
    """Serve the API, the embeddable page and the UI on settings.host:settings.port."""
    import uvicorn

    app = create_app(settings)
    print(f"Serving on http://{settings.host}:{settings.port}", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", timeout_graceful_shutdown=5)

"""The command line's road to a running server: `rag ask` and `rag chat` send the
question to `rag serve` when one answers on the configured address, so a
question costs the answer's time and not the models' loading.

`Remote.stream` posts to /api/ask with streaming and turns the server-sent
events back into the events `Assistant.stream` yields (Quote, Reading, Token,
Answer), so the command line shows a remote answer exactly as a local one.
Errors come back as the library's typed errors: a bad question is a
QuestionError, a full queue Busy, a server that fails or goes away
Unavailable. Only httpx is imported here: asking a server loads no model and
no torch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from .errors import Busy, QuestionError, RagError, Unavailable
from .settings import Settings

HEALTH_TIMEOUT = 0.5  # seconds a health check may take before the question is answered in process


def base_url(settings: Settings) -> str:
    """Where `rag serve` would answer for these settings (a server bound to every address is asked on loopback)."""
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{host}:{settings.port}"


class Remote:
    """A running server, asked as the assistant is."""

    def __init__(self, settings: Settings, timeout: float | None = None) -> None:
        self.url = base_url(settings)
        tokens = Settings.split(settings.api_tokens)
        self._headers = {"Authorization": f"Bearer {tokens[0]}"} if tokens else {}
        self._timeout = timeout or settings.request_timeout

    def available(self, timeout: float = HEALTH_TIMEOUT) -> bool:
        """The server answers its health check as ready within `timeout` seconds."""
        try:
            r = httpx.get(f"{self.url}/api/health", headers=self._headers, timeout=timeout)
        except httpx.HTTPError:
            return False
        return r.status_code == 200 and r.json().get("status") == "ok"

    def stream(self, question: str, history: list[dict[str, str]] | None = None) -> Iterator[Any]:
        """The answer's events, as `Assistant.stream` yields them; typed errors on failure."""
        from .answering import Answer, Reading, Timings, Token
        from .citations import Citation
        from .quoting import Quote
        from .retrieval import Passage

        body = {"question": question, "history": history or [], "stream": True}
        try:
            with httpx.stream("POST", f"{self.url}/api/ask", json=body, headers=self._headers, timeout=self._timeout) as r:
                if r.status_code != 200:
                    r.read()
                    raise _error(r)
                for event, data in sse_events(r.iter_lines()):
                    if event == "quote":
                        yield Quote(**data)
                    elif event == "passages":
                        yield Reading([_passage(p, Passage) for p in data["passages"]])
                    elif event == "token":
                        yield Token(data["text"])
                    elif event == "answer":
                        citations = [Citation(date=None, **c) for c in data["citations"]]
                        quote = Quote(**data["quote"]) if data.get("quote") else None
                        yield Answer(data["question"], data["answer"], data["refused"], data["language"], citations, Timings(**data["timings"]), quote=quote, doubt=data.get("doubt"))
                    elif event == "error":
                        raise (Unavailable if data.get("retryable") else RagError)(f"The server at {self.url} could not answer: {data['error']}")
        except httpx.HTTPError as exc:
            raise Unavailable(f"The server at {self.url} did not answer ({type(exc).__name__}); try again, or ask with --local") from None


def _passage(data: dict[str, Any], passage: Any) -> Any:
    """A passage of a `passages` event, as much of it as the event says (what the model reads, by article)."""
    from .chunking import Chunk

    return passage(data["n"], Chunk(data["chunk_id"], data["doc_id"], data["title"], data.get("date"), "", 0, 0, ()), (), 0.0)


def _error(r: httpx.Response) -> RagError:
    """The typed error of a refused request."""
    try:
        message = r.json().get("error") or r.text
    except ValueError:
        message = r.text
    if r.status_code in (400, 413, 422):
        return QuestionError(str(message))
    if r.status_code in (429, 503):
        return Busy(str(message), retry_after=float(r.headers.get("Retry-After", "5")))
    if r.status_code == 401:
        return RagError(f"The server at {r.request.url.host}:{r.request.url.port} wants a token: set api_tokens (RAG_API_TOKENS) as the server has them")
    return Unavailable(f"The server answered {r.status_code}: {message}")


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event, parsed data) of a server-sent event stream, as they come."""
    event, data = "message", ""
    for line in lines:
        if line == "":
            if data:
                yield event, json.loads(data)
            event, data = "message", ""
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
    if data:
        yield event, json.loads(data)

"""What the OpenAI-compatible backend sends and streams, against a scripted
server on 127.0.0.1 that records each request and replies with set pieces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from serving import running

from rag.generation import OpenAIGenerator, Usage

QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the capital of France?"}]
OPENED = [*QUESTION, {"role": "assistant", "content": "The capital of France is"}]


@pytest.fixture
def scripted() -> Iterator[tuple[str, list[dict[str, Any]], list[list[str]]]]:
    """A chat-completions server: (base URL, request bodies received, replies to send, one per request, in pieces)."""
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    bodies: list[dict[str, Any]] = []
    replies: list[list[str]] = []

    async def complete(request: Any) -> StreamingResponse:
        bodies.append(await request.json())
        pieces = replies.pop(0)

        def events() -> Iterator[str]:
            for piece in pieces:
                yield "data: " + json.dumps({"choices": [{"delta": {"content": piece}}]}) + "\n\n"
            yield "data: " + json.dumps({"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": len(pieces)}}) + "\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    with running(Starlette(routes=[Route("/v1/chat/completions", complete, methods=["POST"])])) as url:
        yield f"{url}/v1", bodies, replies


def text(pieces: list[str | Usage]) -> str:
    return "".join(p for p in pieces if isinstance(p, str))


def test_a_plain_question_is_sent_as_is(scripted) -> None:
    url, bodies, replies = scripted
    replies.append(["Paris", "."])
    pieces = list(OpenAIGenerator([url], "m").stream(QUESTION, 16))
    assert text(pieces) == "Paris." and pieces[-1] == Usage(30, 2)
    assert bodies[0]["messages"] == QUESTION and "continue_final_message" not in bodies[0]


def test_a_continuing_server_is_given_the_opening_to_continue(scripted) -> None:
    url, bodies, replies = scripted
    replies.append([" Paris", "."])
    assert text(list(OpenAIGenerator([url], "m", continues=True).stream(OPENED, 16))) == " Paris."
    assert bodies[0]["messages"] == OPENED
    assert bodies[0]["continue_final_message"] is True and bodies[0]["add_generation_prompt"] is False


@pytest.mark.parametrize(
    ("reply", "streamed"),
    [
        (["The capital", " of France", " is", " Paris", "."], " Paris."),  # the opening again, in pieces
        (["the Capital of  France is Paris."], " Paris."),  # spacing and case aside
        (["The capital of France is: Paris."], " Paris."),  # and punctuation
        (["The capital of France is", " «Paris» [1]"], " «Paris» [1]"),  # what the answer opens with is kept
        (["Paris", "."], "Paris."),  # straight to the point
        (["The capital", " city is Paris."], "The capital city is Paris."),  # began like it, then went elsewhere
        (["The capital of France is"], ""),  # nothing past the opening
    ],
)
def test_a_server_opening_a_new_turn_is_asked_for_the_opening_and_streams_without_it(scripted, reply: list[str], streamed: str) -> None:
    url, bodies, replies = scripted
    replies.append(reply)
    pieces = list(OpenAIGenerator([url], "m").stream(OPENED, 16))
    assert text(pieces) == streamed and isinstance(pieces[-1], Usage)
    sent = bodies[0]["messages"]
    assert [m["role"] for m in sent] == ["system", "user"] and "continue_final_message" not in bodies[0]
    assert sent[1]["content"].startswith(QUESTION[1]["content"]) and sent[1]["content"].endswith("Begin your answer with: The capital of France is")

"""`rag ask` and `rag chat` through a running server, in process without one, and when the
server goes away: a real server on 127.0.0.1 with the fake models."""

from __future__ import annotations

import io
import json

import pytest
from conftest import FakeGenerator, well_behaved
from serving import free_port, running

from rag import cli, client
from rag.answering import Answer, Assistant, Quote, Token
from rag.errors import Busy, QuestionError, Unavailable
from rag.server import create_app


@pytest.fixture
def served(settings, fake_index, fake_embedder, monkeypatch):
    """A server with the fake models on a free port, the environment pointing the command line at it."""
    port = free_port()
    s = settings.replace(port=port, refusal_threshold=0.1)
    assistant = Assistant(s, fake_index, fake_embedder, FakeGenerator(well_behaved))
    monkeypatch.setenv("RAG_PORT", str(port))
    monkeypatch.setenv("RAG_INDEX_DIR", str(settings.index_dir))
    monkeypatch.setenv("RAG_CORPUS_DIR", str(settings.corpus_dir))
    with running(create_app(s, assistant, ui=False), port) as url:
        yield url, assistant, s


def _local_is_forbidden(monkeypatch) -> None:
    import rag.answering

    def refuse(settings, generator=None, **_):
        raise AssertionError("the models were loaded although a server answers")

    monkeypatch.setattr(rag.answering, "load_assistant", refuse)


def test_remote_events_are_the_assistants_events(served) -> None:
    url, assistant, s = served
    remote = client.Remote(s)
    assert remote.url == url and remote.available()
    events = list(remote.stream("ماذا طلب أوستن من شويغو؟"))
    assert isinstance(events[0], Quote) and isinstance(events[-1], Answer) and any(isinstance(e, Token) for e in events)
    local = assistant.ask("ماذا طلب أوستن من شويغو؟")
    remote_answer = events[-1]
    assert remote_answer.answer == local.answer and remote_answer.quote == local.quote
    assert [(c.n, c.doc_id, c.quote, c.supported) for c in remote_answer.citations] == [(c.n, c.doc_id, c.quote, c.supported) for c in local.citations]


def test_remote_errors_are_typed(served) -> None:
    _, _, s = served
    remote = client.Remote(s)
    with pytest.raises(QuestionError):
        list(remote.stream("   "))
    with pytest.raises(QuestionError):
        list(remote.stream("x" * 5000))


def test_ask_goes_through_a_running_server(served, monkeypatch, capsys) -> None:
    _, assistant, _ = served
    _local_is_forbidden(monkeypatch)
    calls = len(assistant.generator.calls)
    assert cli.main(["ask", "--json", "ماذا طلب أوستن من شويغو؟"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["answer"] and data["quote"]["text"] and len(assistant.generator.calls) > calls  # the server's model answered
    assert cli.main(["ask", "ماذا طلب أوستن من شويغو؟"]) == 0
    shown = capsys.readouterr().out
    assert shown.index("«") < shown.index(data["answer"]) and "Sources:" in shown  # the quote first, as in process


def test_ask_says_which_road_it_took_when_verbose(served, monkeypatch, capsys) -> None:
    import logging

    _local_is_forbidden(monkeypatch)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # let -v configure logging afresh
    assert cli.main(["-v", "ask", "--json", "ماذا طلب أوستن من شويغو؟"]) == 0
    assert "answering through the server" in capsys.readouterr().err


def test_local_asks_in_process_even_with_a_server(served, settings, fake_index, fake_embedder, monkeypatch, capsys) -> None:
    _, assistant, _ = served
    import rag.answering

    mine = Assistant(settings.replace(refusal_threshold=0.1), fake_index, fake_embedder, FakeGenerator(well_behaved))
    monkeypatch.setattr(rag.answering, "load_assistant", lambda s, generator=None, **_: mine)
    before = len(assistant.generator.calls)
    assert cli.main(["ask", "--local", "--json", "ماذا طلب أوستن من شويغو؟"]) == 0
    assert json.loads(capsys.readouterr().out)["answer"] and mine.generator.calls and len(assistant.generator.calls) == before


def test_without_a_server_ask_answers_in_process(settings, fake_index, fake_embedder, monkeypatch, capsys) -> None:
    import rag.answering

    monkeypatch.setenv("RAG_PORT", str(free_port()))  # nothing listens there
    mine = Assistant(settings.replace(refusal_threshold=0.1), fake_index, fake_embedder, FakeGenerator(well_behaved))
    monkeypatch.setattr(rag.answering, "load_assistant", lambda s, generator=None, **_: mine)
    assert cli.main(["ask", "--json", "ماذا طلب أوستن من شويغو؟"]) == 0
    assert json.loads(capsys.readouterr().out)["answer"] and mine.generator.calls


def test_a_server_that_goes_away_mid_answer_is_a_clear_error(settings, fake_index, fake_embedder, monkeypatch) -> None:
    import threading

    port = free_port()
    s = settings.replace(port=port, refusal_threshold=0.1)
    release = threading.Event()
    assistant = Assistant(s, fake_index, fake_embedder, FakeGenerator(lambda m: (release.wait(20), "x")[1]))
    remote = client.Remote(s, timeout=30)
    with running(create_app(s, assistant, ui=False), port):
        assert remote.available()
        events = remote.stream("ماذا طلب أوستن من شويغو؟")
        first = next(events)  # the quote: the server is answering
        assert isinstance(first, Quote)
    release.set()  # the server stopped while its model was busy
    with pytest.raises(Unavailable):
        list(events)
    assert not remote.available()


def test_a_full_server_queue_is_busy(served, monkeypatch) -> None:
    _, assistant, s = served
    monkeypatch.setattr(assistant, "admit", lambda: (_ for _ in ()).throw(Busy("full", retry_after=3)))
    with pytest.raises(Busy):
        list(client.Remote(s).stream("ماذا طلب أوستن من شويغو؟"))


def test_chat_holds_a_conversation_with_follow_ups_new_and_sources(served, monkeypatch, capsys) -> None:
    _, assistant, _ = served
    _local_is_forbidden(monkeypatch)
    asked: list[tuple[str, list]] = []
    stream = assistant.stream
    monkeypatch.setattr(assistant, "stream", lambda q, h=None: (asked.append((q, list(h or []))), stream(q, h))[1])
    monkeypatch.setattr("sys.stdin", io.StringIO("ماذا طلب أوستن من شويغو؟\nومتى؟\n/sources\n/new\nومتى؟\n/quit\n"))
    assert cli.main(["chat"]) == 0
    out = capsys.readouterr().out
    assert [q for q, _ in asked] == ["ماذا طلب أوستن من شويغو؟", "ومتى؟", "ومتى؟"]
    first_answer = asked[1][1][1]["content"]
    assert asked[0][1] == [] and asked[1][1] == [{"role": "user", "content": "ماذا طلب أوستن من شويغو؟"}, {"role": "assistant", "content": first_answer}]
    assert asked[2][1] == []  # /new forgot the conversation
    assert "(new conversation)" in out and out.count("Sources:") == 4  # after each of three answers, and /sources

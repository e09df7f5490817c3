"""`rag chat` as a user meets it: a real terminal (tmux), the real models, five turns with a
follow-up that is answered from the turn before it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from rag.settings import REPO_ROOT

pytestmark = pytest.mark.models
BURNS_DOCS = [p.stem for p in sorted((REPO_ROOT / "seeds").glob("*.txt")) if "بيرنز" in p.read_text(encoding="utf-8")]  # the articles about Burns


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def _pane(session: str) -> str:
    return _tmux("capture-pane", "-p", "-J", "-S", "-2000", "-t", session)


def _wait_for_prompts(session: str, count: int, timeout: float = 300) -> str:
    """The pane once it shows `count` chat prompts ("> " at a line's start)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = _pane(session)
        if len(re.findall(r"^> ", text, re.MULTILINE)) >= count:
            return text
        time.sleep(0.5)
    raise AssertionError("the chat did not answer in time:\n" + _pane(session))


@pytest.fixture
def chat_session(real_index, real_settings):
    """`rag chat --local` in a tmux session over the test's index; killed after the test."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed for the terminal test (Debian package tmux)")
    session = f"rag-chat-{uuid.uuid4().hex[:8]}"
    command = f"{sys.executable} -m rag.cli --index {real_settings.index_dir} chat --local"
    _tmux("new-session", "-d", "-s", session, "-x", "220", "-y", "60", "-c", str(REPO_ROOT), command)
    try:
        yield session
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_chat_holds_five_turns_with_a_follow_up(chat_session) -> None:
    turns = ["أين جرت محادثات مديري الاستخبارات؟", "ومتى؟", "Who did Sullivan talk to?", "/sources", "ماذا طلب أوستن من شويغو؟"]
    _wait_for_prompts(chat_session, 1)
    for n, turn in enumerate(turns, 2):
        _tmux("send-keys", "-t", chat_session, "-l", turn)
        _tmux("send-keys", "-t", chat_session, "Enter")
        text = _wait_for_prompts(chat_session, n)
    _tmux("send-keys", "-t", chat_session, "-l", "/quit")
    _tmux("send-keys", "-t", chat_session, "Enter")
    answers = re.split(r"^> .*$", text, flags=re.MULTILINE)[1:]
    assert len(answers) >= 5, text
    burns, when, sullivan, sources, austin = answers[:5]
    assert "أنقرة" in burns and "Sources:" in burns, burns
    # the follow-up ("and when?") is answered from an article about the talks of Burns, which the turn before it asked about
    assert BURNS_DOCS and any(doc in when for doc in BURNS_DOCS) and "Sources:" in when, when
    assert "Sullivan" in sullivan or "سوليفان" in sullivan, sullivan
    assert "000_a00ca570afe35320" in sullivan, sullivan  # cited from the Sullivan article
    assert "Sources:" in sources and "«" in sources  # /sources shows the last answer's passage
    assert "«" in austin.split("Sources:")[0] and "Traceback" not in text  # each answer opens with its quote

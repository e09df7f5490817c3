"""The OpenAI-compatible generator backend against real llama.cpp servers
(llama-cpp-python's server with the small SmolLM2 GGUF, run by
`python -m rag.hostcheck serve` so it loads as the host's self-check says) started on
127.0.0.1 by the test, and stopped after it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest
from serving import free_port

from rag import models
from rag.answering import Assistant
from rag.errors import GeneratorUnavailable
from rag.generation import OpenAIGenerator, Slots, Usage, load_generator

pytestmark = pytest.mark.models
SMALL = "smollm2-135m-instruct-q4_1"


@pytest.fixture(scope="module")
def llama_servers(real_settings, tmp_path_factory):
    """Two llama.cpp servers on loopback serving the verified small GGUF; their /v1 base URLs."""
    gguf = models.fetch(real_settings, SMALL) / models.spec(SMALL).main_file
    logs = tmp_path_factory.mktemp("llama-server")
    procs, urls = [], []
    try:
        for i in range(2):
            port = free_port()
            log = open(logs / f"server-{i}.log", "w")  # noqa: SIM115 (closed with the process)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "rag.hostcheck", "serve", "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
                 "--n_ctx", "2048", "--n_threads", "1", "--seed", "0"],
                stdout=log, stderr=subprocess.STDOUT))
            log.close()
            urls.append(f"http://127.0.0.1:{port}/v1")
        for i, (proc, url) in enumerate(zip(procs, urls, strict=True)):
            deadline = time.time() + 120
            while True:
                try:
                    if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("llama.cpp server did not start: " + (logs / f"server-{i}.log").read_text()[-2000:])
                time.sleep(0.5)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_streams_text_and_server_usage(llama_servers) -> None:
    gen = OpenAIGenerator(llama_servers[:1], SMALL, timeout=120)
    pieces = list(gen.stream([{"role": "user", "content": "Say hello in one word."}], 16))
    text = "".join(p for p in pieces if isinstance(p, str))
    usage = pieces[-1]
    assert text.strip()
    assert isinstance(usage, Usage) and usage.prompt_tokens > 5 and 0 < usage.completion_tokens <= 16
    opening = [{"role": "user", "content": "Say hello in one word."}, {"role": "assistant", "content": "The word is"}]
    assert "".join(p for p in gen.stream(opening, 8) if isinstance(p, str)).strip()  # the answer's start is accepted


def test_the_answer_opening_is_asked_for_and_not_streamed_twice(llama_servers) -> None:
    # llama-cpp-python's server opens a new turn after a closing assistant message, so the opening is
    # asked for in the question; the reply repeats it, and what streams is the rest
    gen = OpenAIGenerator(llama_servers[:1], SMALL, timeout=120)
    opened = [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "The capital of France is"}]
    rest = "".join(p for p in gen.stream(opened, 16) if isinstance(p, str))
    assert "paris" in rest.lower() and "capital of france" not in rest.lower()


def test_chosen_by_settings_and_answers_through_the_assistant(llama_servers, real_settings, real_index, real_embedder) -> None:
    s = real_settings.__class__(**{**real_settings.__dict__, "generator_backend": "openai", "openai_base_url": ",".join(llama_servers), "openai_model": SMALL})
    gen = load_generator(s)
    assert isinstance(gen, OpenAIGenerator) and SMALL in gen.name
    gen.ping()  # both servers up: the health check passes
    answer = Assistant(s, real_index, real_embedder, gen).ask("مع من تحدث سوليفان؟")
    assert answer.timings.prompt_tokens > 100 and answer.passages  # the whole prompt went to the server
    assert answer.refused or answer.answer.strip()
    for c in answer.citations:
        assert c.text[c.start : c.end] == c.quote


def test_two_servers_generate_at_once(llama_servers) -> None:
    gen = OpenAIGenerator(llama_servers, SMALL, timeout=120)
    spans: list[tuple[float, float]] = []
    errors: list[Exception] = []

    def one() -> None:
        with gen.lock:
            start = time.perf_counter()
            try:
                list(gen.stream([{"role": "user", "content": "Count from one to twenty in words."}], 48))
            except Exception as exc:  # reported below
                errors.append(exc)
            spans.append((start, time.perf_counter()))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(spans) == 2
    (a0, a1), (b0, b1) = sorted(spans)
    assert b0 < a1  # the second began before the first ended: one question per server


def test_unreachable_server_is_a_clear_retryable_error() -> None:
    gen = OpenAIGenerator([f"http://127.0.0.1:{free_port()}/v1"], "none", timeout=5)
    with pytest.raises(GeneratorUnavailable, match="unreachable"):
        list(gen.stream([{"role": "user", "content": "hi"}], 8))


def test_a_server_with_parallel_slots_takes_that_many_questions() -> None:
    gen = OpenAIGenerator([f"http://127.0.0.1:{free_port()}/v1", f"http://127.0.0.1:{free_port()}/v1"], "none", parallel=3)
    assert all(gen.lock.acquire(timeout=0.05) for _ in range(6)) and gen.lock.locked()
    assert not gen.lock.acquire(timeout=0.05)


def test_the_api_answers_503_when_the_model_server_is_down(settings, fake_index, fake_embedder) -> None:
    """A replica whose model server is down gives each question 503 with Retry-After: the client can retry (on another replica)."""
    from serving import running

    from rag.server import create_app

    s = settings.replace(refusal_threshold=0.1, generator_backend="openai", openai_base_url=f"http://127.0.0.1:{free_port()}/v1")
    assistant = Assistant(s, fake_index, fake_embedder, load_generator(s))
    with running(create_app(s, assistant, ui=False)) as url:
        health = httpx.get(f"{url}/api/health", timeout=30)
        r = httpx.post(f"{url}/api/ask", json={"question": "مع من تحدث سوليفان؟"}, timeout=30)
    assert health.status_code == 503 and "unreachable" in health.json()["error"]
    assert r.status_code == 503 and "unreachable" in r.json()["error"] and int(r.headers["Retry-After"]) > 0


def test_slots_allow_one_holder_per_server() -> None:
    slots = Slots(2)
    assert slots.acquire() and not slots.locked()
    assert slots.acquire() and slots.locked()
    assert not slots.acquire(timeout=0.05)
    slots.release()
    assert not slots.locked()

"""The host self-check for llama.cpp's extra buffer types (rag.hostcheck).

The failing hosts are exercised with a real child process that really dies
(SIGSEGV raised in it after it loaded the model, where llama.cpp crashes on
such hosts) or really hangs; the verdict that follows is what loads models.
The small SmolLM2 GGUF is the model the child loads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from rag import hostcheck, models
from rag.errors import GenerationError, RagError
from rag.generation import LlamaCppGenerator, Usage
from rag.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.models
SMALL = "smollm2-135m-instruct-q4_1"


@pytest.fixture(scope="module")
def small_gguf(real_settings):
    return models.fetch(real_settings, SMALL) / models.spec(SMALL).main_file


def _answer(gen: LlamaCppGenerator) -> str:
    with gen.lock:
        events = list(gen.stream([{"role": "user", "content": "What is the capital of France?"}], 8))
    assert isinstance(events[-1], Usage)
    return "".join(e for e in events if isinstance(e, str))


def test_a_child_that_dies_of_sigsegv_turns_the_extra_buffers_off_and_the_verdict_is_kept(small_gguf, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RAG_HOSTCHECK_FAULT", "segv")
    verdict = hostcheck.decide("auto", small_gguf, tmp_path)
    assert not verdict.extra_buffers and verdict.source == "self-check"
    assert "SIGSEGV" in verdict.reason
    # the process that asked is alive, and loads the model without the extra buffers, which answers
    gen = LlamaCppGenerator(small_gguf, SMALL, extra_buffers=verdict.extra_buffers, n_ctx=256, threads=2)
    assert _answer(gen).strip()
    # the next start takes the kept verdict: no child runs (one now would pass on a healthy host)
    monkeypatch.delenv("RAG_HOSTCHECK_FAULT")
    again = hostcheck.decide("auto", small_gguf, tmp_path)
    assert (again.extra_buffers, again.source, again.reason) == (False, "kept", verdict.reason)
    assert "off" in again.line() and "SIGSEGV" in again.line()


def test_a_child_that_hangs_is_killed_and_the_extra_buffers_go_off(small_gguf, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RAG_HOSTCHECK_FAULT", "hang")
    verdict = hostcheck.decide("auto", small_gguf, tmp_path, timeout=20)
    assert not verdict.extra_buffers and "hung" in verdict.reason
    assert verdict.seconds < 60
    leftover = subprocess.run(["pgrep", "-f", f"rag.hostcheck {small_gguf}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""  # the hung child was killed, not left behind


def test_a_healthy_child_passes_and_the_check_runs_once_per_model_file_and_llama_build(small_gguf, tmp_path, monkeypatch) -> None:
    verdict = hostcheck.decide("auto", small_gguf, tmp_path)
    print("\nsmall model on this host:", verdict.line())
    record = json.loads((tmp_path / hostcheck.VERDICTS).read_text())
    assert list(record["verdicts"]) == [verdict.key] and record["verdicts"][verdict.key]["extra_buffers"] == verdict.extra_buffers
    # another model file is another key, checked by its own child
    other = tmp_path / "copy" / "other-name.gguf"
    other.parent.mkdir()
    shutil.copyfile(small_gguf, other)
    monkeypatch.setenv("RAG_HOSTCHECK_FAULT", "segv")
    assert hostcheck.decide("auto", small_gguf, tmp_path).source == "kept"
    assert "SIGSEGV" in hostcheck.decide("auto", other, tmp_path).reason
    # so is another llama.cpp build, and another CPU
    import llama_cpp

    key = hostcheck.host_key(small_gguf)
    monkeypatch.setattr(llama_cpp, "__version__", "0.0.0-other")
    assert hostcheck.host_key(small_gguf) != key
    monkeypatch.undo()
    real = hostcheck._cpuinfo()
    monkeypatch.setattr(hostcheck, "_cpuinfo", lambda: {**real, "flags": real.get("flags", "") + " amx_tile amx_int8"})
    assert hostcheck.host_key(small_gguf) != key


def test_the_setting_on_or_off_decides_without_a_child(small_gguf, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RAG_HOSTCHECK_FAULT", "segv")  # a child would say off
    assert hostcheck.decide("on", small_gguf, tmp_path) == hostcheck.Verdict(True, "setting llama_extra_buffers", "setting")
    assert not hostcheck.decide("off", small_gguf, tmp_path).extra_buffers
    assert not (tmp_path / hostcheck.VERDICTS).exists()
    with pytest.raises(GenerationError):
        hostcheck.decide("maybe", small_gguf, tmp_path)
    assert Settings.load(environ={"RAG_LLAMA_EXTRA_BUFFERS": "off"}).llama_extra_buffers == "off"
    assert Settings.load(environ={}).llama_extra_buffers == "auto"
    with pytest.raises(RagError):
        Settings.load(environ={"RAG_LLAMA_EXTRA_BUFFERS": "sometimes"})


def test_an_unreadable_verdict_record_means_checking_again(small_gguf, tmp_path, monkeypatch) -> None:
    (tmp_path / hostcheck.VERDICTS).write_text("{not json")
    monkeypatch.setenv("RAG_HOSTCHECK_FAULT", "segv")
    verdict = hostcheck.decide("auto", small_gguf, tmp_path)
    assert verdict.source == "self-check" and not verdict.extra_buffers
    assert json.loads((tmp_path / hostcheck.VERDICTS).read_text())["verdicts"][verdict.key]["extra_buffers"] is False


def test_loading_with_or_without_extra_buffers_reaches_llama_cpp_and_leaves_its_defaults_alone(small_gguf) -> None:
    import llama_cpp.llama_cpp as lib

    original = lib.llama_model_default_params
    seen = []
    for extra in (True, False):
        with hostcheck._params(extra):
            seen.append(lib.llama_model_default_params().use_extra_bufts)
    assert seen == [True, False]
    assert lib.llama_model_default_params is original and original().use_extra_bufts
    with pytest.raises(ValueError):
        hostcheck.load_llama(small_gguf.with_name("absent.gguf"), False)
    assert lib.llama_model_default_params is original  # restored after a failed load too
    off = hostcheck.load_llama(small_gguf, False, n_ctx=128, verbose=False)
    assert off.model_params.use_extra_bufts is False


def test_the_models_listing_shows_the_verdict_for_this_host(small_gguf, real_settings, tmp_path) -> None:
    store = tmp_path / "store"
    shutil.copytree(small_gguf.parent, store / SMALL)
    env = {**os.environ, "RAG_MODEL_DIR": str(store)}
    env.pop("RAG_HOSTCHECK_FAULT", None)

    def listed() -> str:
        out = subprocess.run([sys.executable, "-m", "rag.cli", "models", "list", "--json"], capture_output=True, text=True, env=env, cwd=REPO_ROOT)
        assert out.returncode == 0, out.stderr
        return {r["name"]: r for r in json.loads(out.stdout)}[SMALL]["extra_buffers"]

    assert "not checked" in listed()
    verdict = hostcheck.decide("auto", store / SMALL / small_gguf.name, store)
    assert listed() == hostcheck.Verdict(**{**verdict.__dict__, "source": "kept"}).line()


def test_the_default_generator_loads_as_the_self_check_on_this_host_decided(real_settings, host_verdict) -> None:
    from rag.generation import load_generator

    gen = load_generator(real_settings)
    assert isinstance(gen, LlamaCppGenerator)
    assert gen.extra_buffers == host_verdict.extra_buffers
    assert gen._llm.model_params.use_extra_bufts == host_verdict.extra_buffers


def test_without_extra_buffers_llama_cpp_puts_no_weights_in_an_extra_buffer_type(small_gguf) -> None:
    """llama.cpp's own load log: off, the weights stay in plain CPU buffers (no AMX or CPU_REPACK buffer)."""
    code = (f"from pathlib import Path; from rag import hostcheck; "
            f"hostcheck.load_llama(Path({str(small_gguf)!r}), False, n_ctx=128, verbose=True)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    buffers = [line for line in out.stderr.splitlines() if "model buffer size" in line]
    assert buffers and all("REPACK" not in line and "AMX" not in line for line in buffers)

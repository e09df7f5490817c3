"""Whether llama.cpp's extra buffer types are safe on this host, decided on the host.

llama.cpp moves a GGUF's weights into "extra" CPU buffer types where the CPU
has kernels for them: AMX tiles on recent Intel Xeons, repacked layouts for
AVX2 / AVX-512 / NEON. On some hosts those kernels crash the process (on Xeons
with AMX, llama-cpp-python 0.3.36 segfaults on any decode of two or more
tokens). A segfault cannot be caught inside the process that has it, so the
question is put to a child process: it loads the model with extra buffers and
decodes a small batch. If the child dies or hangs, models are loaded without
them (`llama_model_params.use_extra_bufts = False`, which `Llama(...)` has no
argument for). The verdict is kept in the model store, keyed by what decides
it (the CPU and its flags, the llama.cpp build, the model file), so later
starts pay nothing.

`python -m rag.hostcheck MODEL.gguf` is that child; `RAG_HOSTCHECK_FAULT`
(`segv` or `hang`) makes it fail the way a bad host does, for tests only.
`python -m rag.hostcheck serve --model MODEL.gguf [llama_cpp.server flags]`
runs llama-cpp-python's OpenAI-compatible server with the same protection
(the `llama_extra_buffers` setting, `auto` by default).
"""

from __future__ import annotations

import contextlib
import faulthandler
import hashlib
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import GenerationError

log = logging.getLogger(__name__)

CHOICES = ("auto", "on", "off")
VERDICTS = "llama-host-checks.json"  # in the model store, beside the models it speaks of
CHECK_TIMEOUT = 180.0  # seconds the child may take to load a model and decode a few tokens on a slow disk
_FAULT = "RAG_HOSTCHECK_FAULT"
_PROBE_TEXT = b"The quick brown fox jumps over the lazy dog. \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7"  # a batch of a dozen tokens, Arabic included
_PARAMS_LOCK = threading.Lock()  # llama-cpp-python builds model params from a module function; see load_llama


@dataclass(frozen=True)
class Verdict:
    """Whether models load with llama.cpp's extra buffer types, and why."""

    extra_buffers: bool
    reason: str  # "setting", "self-check passed", "self-check: child died of SIGSEGV", …
    source: str  # "setting", "self-check" (run now) or "kept" (an earlier run's, same key)
    key: str = ""
    checked_at: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        """One line for logs and `rag models list`."""
        state = "on" if self.extra_buffers else "off"
        when = f", {self.checked_at}" if self.checked_at else ""
        kept = ", kept from an earlier check" if self.source == "kept" else ""
        return f"llama.cpp extra buffers (AMX, CPU repack): {state} ({self.reason}{when}{kept})"


def host_facts(model_path: Path) -> dict[str, Any]:
    """What decides whether extra buffers work: CPU model and flags, llama.cpp build, model file."""
    import llama_cpp

    cpu = _cpuinfo()
    stat = model_path.stat()
    return {
        "machine": platform.machine(),
        "cpu": cpu.get("model name", ""),
        "flags": sorted(set(cpu.get("flags", "").split())),
        "llama_cpp": getattr(llama_cpp, "__version__", ""),
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace"),
        "model": model_path.name,
        "model_bytes": stat.st_size,
    }


def host_key(model_path: Path) -> str:
    """A short hash of host_facts: the verdict's key."""
    blob = json.dumps(host_facts(model_path), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if not line.strip():
                break
            name, _, value = line.partition(":")
            fields[name.strip()] = value.strip()
    return fields


def decide(setting: str, model_path: Path, store: Path, timeout: float = CHECK_TIMEOUT) -> Verdict:
    """The verdict for loading model_path: the setting's when 'on' or 'off'; for 'auto',
    the kept one for this host, or a self-check run now (and kept)."""
    if setting not in CHOICES:
        raise GenerationError(f"llama_extra_buffers must be one of {', '.join(CHOICES)}, not {setting!r}")
    if setting != "auto":
        return Verdict(setting == "on", "setting llama_extra_buffers", "setting")
    key = host_key(model_path)
    if (kept := _kept(store).get(key)) is not None:
        return Verdict(**{**kept, "source": "kept"})
    started = time.monotonic()
    ok, reason = probe(model_path, timeout)
    verdict = Verdict(ok, reason, "self-check", key, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), round(time.monotonic() - started, 1))
    try:
        _keep(store, verdict)
    except OSError as exc:  # a read-only store: the check runs again next start
        log.warning("could not keep the llama.cpp self-check verdict in %s: %s", store, exc)
    return verdict


def kept_verdict(model_path: Path, store: Path) -> Verdict | None:
    """The verdict kept for this host and model, if a self-check ran."""
    kept = _kept(store).get(host_key(model_path))
    return Verdict(**{**kept, "source": "kept"}) if kept else None


def probe(model_path: Path, timeout: float = CHECK_TIMEOUT) -> tuple[bool, str]:
    """Run the child check; (extra buffers work, why)."""
    command = [sys.executable, "-m", "rag.hostcheck", str(model_path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        return False, f"self-check: the child hung for {timeout:.0f} s and was killed"
    if done.returncode == 0 and done.stdout.strip().endswith("ok"):
        return True, "self-check passed"
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        return False, f"self-check: the child died of {name}"
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
    return False, f"self-check: the child exited with status {done.returncode} ({tail})"


def _kept(store: Path) -> dict[str, dict[str, Any]]:
    path = store / VERDICTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: the check runs again and rewrites it
    return {k: v for k, v in data.get("verdicts", {}).items() if isinstance(v, dict) and set(v) == set(Verdict.__dataclass_fields__)}


def _keep(store: Path, verdict: Verdict) -> None:
    """Add verdict to the store's record, atomically (a crash leaves the old record)."""
    store.mkdir(parents=True, exist_ok=True)
    verdicts = _kept(store)
    verdicts[verdict.key] = {**asdict(verdict), "source": "self-check"}
    tmp = store / f".{VERDICTS}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"format": 1, "verdicts": verdicts}, indent=1), encoding="utf-8")
    os.replace(tmp, store / VERDICTS)


@contextlib.contextmanager
def _params(extra_buffers: bool) -> Iterator[None]:
    """While constructing a Llama: model params with use_extra_bufts as given.

    llama-cpp-python's `Llama.__init__` takes its model params from
    `llama_cpp.llama_model_default_params()` and exposes no argument for
    use_extra_bufts, so the function is wrapped for the duration of the
    constructor, under a lock so that concurrent loads each get their own."""
    import llama_cpp.llama_cpp as lib

    original = lib.llama_model_default_params

    def params() -> Any:
        p = original()
        p.use_extra_bufts = extra_buffers
        return p

    with _PARAMS_LOCK:
        lib.llama_model_default_params = params
        try:
            yield
        finally:
            lib.llama_model_default_params = original


def load_llama(model_path: Path, extra_buffers: bool, **kwargs: Any) -> Any:
    """`llama_cpp.Llama(model_path, **kwargs)` with or without extra buffer types."""
    from llama_cpp import Llama

    with _params(extra_buffers):
        return Llama(model_path=str(model_path), **kwargs)


def _child(model_path: Path) -> int:
    """The self-check: load with extra buffers, decode a batch and one more token."""
    fault = os.environ.get(_FAULT, "")
    llm = load_llama(model_path, True, n_ctx=256, n_threads=min(2, os.cpu_count() or 1), n_batch=64, verbose=False)
    if fault == "segv":
        faulthandler.disable()  # die as llama.cpp does on a bad host, without a Python traceback
        faulthandler._sigsegv()  # type: ignore[attr-defined]  # CPython test hook: a real SIGSEGV
    if fault == "hang":
        time.sleep(3600)
    tokens = llm.tokenize(_PROBE_TEXT, add_bos=False)
    llm.eval(tokens)
    llm.eval([llm.token_eos() if llm.token_eos() >= 0 else tokens[0]])
    print("ok", flush=True)
    return 0


def _serve(argv: list[str]) -> int:
    """llama-cpp-python's server (`python -m llama_cpp.server`) on the host's verdict for --model."""
    from llama_cpp.server.__main__ import main as server_main

    from .settings import Settings

    model = Path(argv[argv.index("--model") + 1])
    settings = Settings.load()
    verdict = decide(settings.llama_extra_buffers, model, settings.model_dir)
    print(verdict.line(), file=sys.stderr, flush=True)
    sys.argv = ["llama_cpp.server", *argv]
    with _params(verdict.extra_buffers):  # this process loads no other model
        server_main()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        sys.exit(_serve(sys.argv[2:]))
    sys.exit(_child(Path(sys.argv[1])))

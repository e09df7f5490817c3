"""Text generators behind one small protocol.

`LlamaCppGenerator` runs a verified GGUF in-process with llama-cpp-python: the
chat template comes from the GGUF (rendered in a sandboxed Jinja environment
by llama-cpp-python's formatter), generation is greedy by default, and one
lock serializes all use of the model (llama.cpp contexts are not thread-safe).
The KV cache of the constant system message is kept from one question to
the next, and only that: an answer then depends on its own prompt, not on
the question asked before it. The state of each system message (Arabic and
English answers have their own) is saved once read and restored when the
language changes.

`OpenAIGenerator` sends the same messages to any OpenAI-compatible server
(llama.cpp's server, vLLM), so generation can run elsewhere.
"""

from __future__ import annotations

import ctypes
import json
import logging
import queue
import string
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from . import hostcheck, models
from .errors import GenerationError, GeneratorUnavailable
from .settings import Settings

log = logging.getLogger(__name__)
Message = dict[str, str]
_SAVED_HEADS = 8  # system-message KV states kept by a LlamaCppGenerator


@dataclass(frozen=True)
class Usage:
    """Token counts of one generation."""

    prompt_tokens: int
    completion_tokens: int


class GenerationLock(Protocol):
    """Who may generate now: a lock, or one slot per server (Slots)."""

    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

    def release(self) -> None: ...

    def locked(self) -> bool: ...


class Generator(Protocol):
    """What the assistant needs from a language model."""

    name: str
    n_ctx: int

    @property
    def lock(self) -> GenerationLock:
        """Held while generating: llama.cpp contexts are not thread-safe."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model's tokenizer makes of text."""
        ...

    def prompt_tokens(self, messages: list[Message]) -> int:
        """Tokens of the whole rendered chat prompt."""
        ...

    def stream(self, messages: list[Message], max_tokens: int, grammar: str | None = None) -> Iterator[str | Usage]:
        """Answer text pieces as they come, then one Usage. Caller holds `lock`.

        A closing assistant message is the start of the answer: the model
        continues it, and the pieces are what follows it. A grammar (GBNF)
        allows only the texts it describes."""
        ...


class LlamaCppGenerator:
    """A GGUF model run in-process by llama-cpp-python."""

    def __init__(self, path: Path, name: str, *, extra_buffers: bool, n_ctx: int = 2048, threads: int = 2, seed: int = 0, temperature: float = 0.0) -> None:
        """Load the GGUF at path; extra_buffers as the host's verdict says (rag.hostcheck)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.name = name
        self.n_ctx = n_ctx
        self.lock = threading.Lock()
        self._temperature = temperature
        self.extra_buffers = extra_buffers
        self._llm = hostcheck.load_llama(path, extra_buffers, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, n_batch=512, seed=seed, verbose=False)
        meta = self._llm.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise GenerationError(f"{path.name} carries no chat template")
        eos = self._llm.detokenize([self._llm.token_eos()]).decode(errors="ignore")
        bos = self._llm.detokenize([self._llm.token_bos()]).decode(errors="ignore") if self._llm.token_bos() >= 0 else ""
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos, stop_token_ids=[self._llm.token_eos()])
        self._stops = sorted({eos, "<|im_end|>", "<|endoftext|>", "<end_of_turn>", "</s>"} - {""})
        self._heads: OrderedDict[tuple[int, ...], bytes] = OrderedDict()  # system message tokens → saved state

    def render(self, messages: list[Message]) -> str:
        """The prompt text the chat template makes of messages; a closing assistant
        message is the start of the answer, which the model continues."""
        if messages and messages[-1]["role"] == "assistant":
            return self.render(messages[:-1]) + messages[-1]["content"]
        return str(self._formatter(messages=cast(Any, messages)).prompt)

    def count_tokens(self, text: str) -> int:
        """Token count of plain text (no BOS)."""
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=False))

    def prompt_tokens(self, messages: list[Message]) -> int:
        """Token count of the rendered prompt."""
        return len(self._tokenize(self.render(messages)))

    def _tokenize(self, prompt: str) -> list[int]:
        # special=True only parses the template's own control tokens: user text
        # reaching here has had such strings removed (text.strip_special_tokens).
        return self._llm.tokenize(prompt.encode(), add_bos=False, special=True)

    def stream(self, messages: list[Message], max_tokens: int, grammar: str | None = None) -> Iterator[str | Usage]:
        """Greedy (or seeded) generation, streamed, within the grammar when one is given; caller holds `lock`."""
        from llama_cpp import LlamaGrammar

        tokens = self._tokenize(self.render(messages))
        if len(tokens) + max_tokens > self.n_ctx:
            raise GenerationError(f"Prompt of {len(tokens)} tokens leaves no room in a {self.n_ctx}-token context")
        self._settle(tokens, messages)
        pieces: list[str] = []
        for part in self._llm.create_completion(
            tokens, max_tokens=max_tokens, temperature=self._temperature, top_k=1 if self._temperature == 0 else 40, stop=self._stops, stream=True,
            grammar=LlamaGrammar.from_string(grammar, verbose=False) if grammar else None,
        ):
            text = part["choices"][0]["text"]  # type: ignore[index]
            if text:
                pieces.append(text)
                yield text
        # Stream parts are not tokens: a closing part carries only the finish reason, and
        # the tokens of one multi-byte character arrive as one part. So count the text.
        yield Usage(len(tokens), min(max_tokens, self.count_tokens("".join(pieces))))

    def forget(self) -> None:
        """Drop the KV cache and every saved system-message state: the next prompt is read from scratch."""
        self._heads.clear()
        self._llm.reset()

    def _settle(self, tokens: list[int], messages: list[Message]) -> None:
        """Leave in the KV cache exactly the prompt's opening system message, evaluated on its own.

        llama.cpp reuses the longest cached prefix; how far that reaches
        depends on the question asked before, and a prompt evaluated in other
        batches gets slightly different logits, enough to change a greedy
        answer. Reusing the system message and nothing more makes an answer
        depend on its own prompt only, and still spares re-reading the
        constant part. Each system message's state is kept once evaluated
        (a few MB), so alternating Arabic and English questions, which have
        different system messages, restore it instead of re-reading it.
        """
        llm = self._llm
        head = self._tokenize(self.render(messages[:1])) if messages and messages[0]["role"] == "system" else []
        k = next((i for i, (a, b) in enumerate(zip(head, tokens, strict=False)) if a != b), min(len(head), len(tokens)))
        if k and llm.n_tokens >= k and list(llm.input_ids[:k]) == tokens[:k]:
            llm.n_tokens = k
            return
        key = tuple(tokens[:k])
        saved = self._heads.get(key) if k else None
        if saved is not None and self._restore(saved, tokens[:k]):
            self._heads.move_to_end(key)
            return
        llm.reset()
        if k:
            llm.eval(tokens[:k])
            self._heads[key] = self._snapshot()
            while len(self._heads) > _SAVED_HEADS:
                self._heads.popitem(last=False)

    def _snapshot(self) -> bytes:
        """The context's state (its KV cache) as bytes."""
        import llama_cpp

        ctx = self._llm._ctx.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        buffer = (ctypes.c_uint8 * size)()
        n = llama_cpp.llama_state_get_data(ctx, buffer, size)
        return ctypes.string_at(buffer, n)

    def _restore(self, state: bytes, tokens: list[int]) -> bool:
        """Put back a state taken by _snapshot after evaluating `tokens`; False when it did not fit."""
        import llama_cpp

        llm = self._llm
        buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if llama_cpp.llama_state_set_data(llm._ctx.ctx, buffer, len(state)) != len(state):
            return False
        llm.input_ids[: len(tokens)] = tokens
        llm.n_tokens = len(tokens)
        llm._requires_eval = True  # logits come from the next decode, not the restored state
        return True


class Slots:
    """A lock with several holders at once: one per generator server."""

    def __init__(self, n: int) -> None:
        self._sem = threading.BoundedSemaphore(n)
        self._n = n
        self._held = 0
        self._guard = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        ok = self._sem.acquire(blocking, None if timeout < 0 else timeout)
        if ok:
            with self._guard:
                self._held += 1
        return ok

    def release(self) -> None:
        with self._guard:
            self._held -= 1
        self._sem.release()

    def locked(self) -> bool:
        """True when every slot is taken (a new question would wait)."""
        return self._held >= self._n

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class OpenAIGenerator:
    """Generation on OpenAI-compatible servers (llama.cpp server, vLLM).

    Several base URLs may be given, each serving `parallel` questions at once
    (llama-server's --parallel slots): that many questions run at once, each
    on the first server with a free slot.
    """

    def __init__(self, base_urls: list[str], model: str, api_key: str = "", timeout: float = 120.0, n_ctx: int = 4096, temperature: float = 0.0, seed: int = 0,
                 continues: bool = False, parallel: int = 1) -> None:
        import httpx

        if not base_urls:
            raise GenerationError("No generator server URL given")
        self.name = f"{model} @ {', '.join(base_urls)}"
        self.n_ctx = n_ctx
        self.lock = Slots(len(base_urls) * parallel)
        self._model = model
        self._urls = [url.rstrip("/") for url in base_urls]
        self._free: queue.SimpleQueue[str] = queue.SimpleQueue()
        for _ in range(parallel):
            for url in self._urls:
                self._free.put(url + "/chat/completions")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout)
        self._temperature = temperature
        self._seed = seed
        self._continues = continues

    def ping(self) -> None:
        """Raise GeneratorUnavailable unless every server answers its model list (health checks)."""
        import httpx

        for url in dict.fromkeys(self._urls):
            try:
                response = self._client.get(url + "/models", headers=self._headers, timeout=5.0)
            except httpx.HTTPError as exc:
                raise GeneratorUnavailable(f"Generator server {url} unreachable: {type(exc).__name__}") from None
            if response.status_code != 200:
                raise GeneratorUnavailable(f"Generator server {url} answered {response.status_code}")

    def count_tokens(self, text: str) -> int:
        """An upper estimate (the server owns the tokenizer): Arabic runs about 2 characters a token."""
        return max(1, len(text) // 2)

    def prompt_tokens(self, messages: list[Message]) -> int:
        """An upper estimate of the prompt's size."""
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    def stream(self, messages: list[Message], max_tokens: int, grammar: str | None = None) -> Iterator[str | Usage]:
        """Server-sent chunks of a streamed chat completion, then usage. Caller holds a slot of `lock`.
        A grammar goes in the request's `grammar` field (llama.cpp's servers read it).

        A closing assistant message is the answer's start: what streams is its continuation. A server
        that does not continue one (`continues` off) is asked in the last user message to begin with
        it, and the reply streams without it."""
        url = self._free.get(timeout=1.0)
        try:
            if messages and messages[-1]["role"] == "assistant" and not self._continues:
                opening = messages[-1]["content"]
                asked = [*messages[:-2], {"role": "user", "content": f'{messages[-2]["content"]}\nBegin your answer with: {opening}'}]
                yield from _without_opening(self._stream(url, asked, max_tokens, grammar), opening)
            else:
                yield from self._stream(url, messages, max_tokens, grammar)
        finally:
            self._free.put(url)

    def _stream(self, url: str, messages: list[Message], max_tokens: int, grammar: str | None = None) -> Iterator[str | Usage]:
        import httpx

        body: dict[str, Any] = {
            "model": self._model, "messages": messages, "max_tokens": max_tokens, "temperature": self._temperature,
            "seed": self._seed, "stream": True, "stream_options": {"include_usage": True},
        }
        if grammar:
            body["grammar"] = grammar
        if messages and messages[-1]["role"] == "assistant":  # the start of the answer, to be continued (llama-server, vLLM)
            body.update(continue_final_message=True, add_generation_prompt=False)
        usage = Usage(self.prompt_tokens(messages), 0)
        pieces = 0
        try:
            with self._client.stream("POST", url, json=body, headers=self._headers) as response:
                if response.status_code != 200:
                    response.read()
                    kind = GeneratorUnavailable if response.status_code in (429, 502, 503, 504) else GenerationError
                    raise kind(f"Generator server answered {response.status_code}: {response.text[:200]}")
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    event = json.loads(data)
                    if event.get("usage"):
                        usage = Usage(int(event["usage"].get("prompt_tokens", 0)), int(event["usage"].get("completion_tokens", 0)))
                    for choice in event.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            pieces += 1
                            yield text
        except httpx.HTTPError as exc:
            raise GeneratorUnavailable(f"Generator server {url} unreachable or failed: {type(exc).__name__}; try again") from None
        except json.JSONDecodeError:
            raise GenerationError(f"Generator server {url} sent a malformed event") from None
        yield usage if usage.completion_tokens else Usage(usage.prompt_tokens, pieces)


def _without_opening(pieces: Iterator[str | Usage], opening: str) -> Iterator[str | Usage]:
    """The pieces of a reply less the opening it begins with (held until the reply's start shows
    whether it does; case, spacing and punctuation aside)."""
    wanted = [c.casefold() for c in opening if c.isalnum()]  # a letter each, so positions in the reply count alike
    if not wanted:
        yield from pieces
        return
    head = ""
    deciding = True
    for piece in pieces:
        if not deciding or isinstance(piece, Usage):
            yield piece
            continue
        head += piece
        letters = [i for i, c in enumerate(head) if c.isalnum()]
        seen = [head[i].casefold() for i in letters]
        if wanted[: len(seen)] == seen:
            continue  # the opening so far, or only spacing and punctuation
        deciding = False
        if seen[: len(wanted)] != wanted:
            yield head
            continue
        if rest := head[letters[len(wanted) - 1] + 1 :].lstrip(_JOINERS):
            yield " " + rest
    # a reply that never went past (part of) the opening adds nothing to it


_JOINERS = string.whitespace + ",:;،؛-–—"  # what joins an opening to the rest: "According to the articles, …"


def load_generator(settings: Settings, name: str | None = None) -> Generator:
    """The generator chosen by settings: a verified local GGUF or an OpenAI-compatible server."""
    if settings.generator_backend == "openai":
        if not settings.openai_base_url:
            raise GenerationError("generator_backend=openai needs openai_base_url")
        return OpenAIGenerator(Settings.split(settings.openai_base_url), settings.openai_model, settings.openai_api_key, settings.openai_timeout,
                               settings.n_ctx, settings.temperature, settings.seed, settings.openai_continues, settings.openai_parallel)
    name = name or settings.generator_model
    spec = models.spec(name)
    if spec.role != "generator":
        raise GenerationError(f"{name} is not a generator")
    path = models.ensure(settings, name) / spec.main_file
    verdict = hostcheck.decide(settings.llama_extra_buffers, path, settings.model_dir)
    log.info(verdict.line())
    return LlamaCppGenerator(path, name, extra_buffers=verdict.extra_buffers, n_ctx=settings.n_ctx, threads=settings.n_threads,
                             seed=settings.seed, temperature=settings.temperature)

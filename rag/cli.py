"""The `rag` command line: models, index, search, ask, chat, eval, settings, serve.

`ask` and `chat` go to a running `rag serve` when one answers on the
configured address (rag.client), and load the models themselves otherwise.

Library errors (RagError) are printed as one line on stderr with exit code
2; nothing else is caught, so a bug still shows its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import RagError
from .settings import Settings

log = logging.getLogger("rag")


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides = {"corpus_dir": getattr(args, "corpus", None), "index_dir": getattr(args, "index", None), **extra}
    return Settings.load(overrides)


def cmd_models(args: argparse.Namespace) -> int:
    from . import models

    settings = _settings(args)
    if args.action == "list":
        rows = models.listing(settings)
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            for r in rows:
                print(f"{r['name']:<38} {r['role']:<10} {int(r['size']) / 1e6:>8.1f} MB  {r['license']:<20} {r['status']:<9} {r['path']}")
                if "extra_buffers" in r:
                    print(f"{'':<38} {r['extra_buffers']}")
        return 0
    names = args.names or [*models.embedding_models(settings), settings.generator_model]
    for name in names:
        models.fetch(settings, name, Path(args.source) if args.source else None, log=lambda m: print(m, file=sys.stderr))
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from . import index
    from .embedding import load_embedder

    settings = _settings(args)
    embedder = load_embedder(settings)
    report = index.build_index(settings, embedder, progress=True, log=lambda m: print(m, file=sys.stderr))
    for s in report.skipped:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)
    print(f"indexed {report.documents} articles, {report.chunks} chunks ({report.embedded} texts embedded, {report.reused} reused) in {report.seconds:.1f}s -> {report.location}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from . import index
    from .embedding import load_embedder
    from .retrieval import Retriever

    settings = _settings(args)
    ix = index.open_index(settings)
    embedder = load_embedder(settings, ix.manifest["embedding_model"])
    index.check_model(ix, embedder)
    hits = Retriever(ix, embedder, args.mode or settings.retrieval_mode).search(args.query, args.k)
    if args.json:
        print(json.dumps({"query": args.query, "hits": [
            {"rank": h.rank, "doc_id": h.chunk.doc_id, "chunk_id": h.chunk.chunk_id, "title": h.chunk.title, "date": h.chunk.date, "score": round(h.score, 6), "text": h.chunk.text}
            for h in hits
        ]}, ensure_ascii=False))
    else:
        for h in hits:
            print(f"{h.rank}. {h.score:.3f}  {h.chunk.doc_id}  {h.chunk.title}\n   {h.chunk.text[:200]}")
    return 0


def _asker(args: argparse.Namespace, conversation: bool = False) -> Callable[[str, list[dict[str, str]]], Iterator[Any]]:
    """Where questions go: to `rag serve` when one answers on the configured address (not with --local,
    nor with an --index or --corpus of the command's own), else to an assistant loaded here, once
    (for a `conversation`, with the English word lists warmed in the background)."""
    settings = _settings(args)
    if not getattr(args, "local", False) and not (args.index or getattr(args, "corpus", None)):
        from .client import Remote

        remote = Remote(settings)
        if remote.available():
            log.info("answering through the server at %s", remote.url)
            return remote.stream
        log.info("no server answers at %s: answering in process", remote.url)
    else:
        log.info("answering in process")
    from .answering import load_assistant

    return load_assistant(settings, warm_names=conversation).stream


def _rtl(text: str) -> str:
    """Text with a right-to-left mark before each Arabic line, for terminals that lay out bidirectional text."""
    from .text import detect_language

    return "\n".join("\u200f" + line if line and detect_language(line) == "ar" else line for line in text.split("\n"))


def _show(events: Iterator[Any], json_out: bool) -> Any:
    """Print an answer's events as they come (the quote first, then the streamed answer); the Answer."""
    from .answering import Answer, Quote, Reading, Token

    answer: Answer | None = None
    streamed = ""
    for event in events:
        if isinstance(event, Quote) and not json_out:  # the sentence the answer comes from, before the model runs
            print(_rtl(f"«{event.text}»") + f"\n  — {event.title} ({event.date or 'no date'})\n", flush=True)
        elif isinstance(event, Reading) and not json_out and len(event.passages) > 1:  # the prompt takes seconds: say what the model is reading meanwhile
            articles = "; ".join(f"{title} ({date or 'no date'})" for title, date in event.articles)
            print(f"(reading {len(event.passages)} passages: {articles})", file=sys.stderr, flush=True)
        elif isinstance(event, Token):
            streamed += event.text
            if not json_out:
                print(event.text, end="", flush=True)
        elif isinstance(event, Answer):
            answer = event
    assert answer is not None
    if json_out:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
        return answer
    print()
    if streamed.strip() != answer.answer.strip():  # withdrawn after it began (a loop, the refusal marker late): the answer is this
        print(answer.answer)
    if answer.thin:  # the evidence may not answer: the reader checks the quote
        print("(thin evidence: the quote may not answer this)")
    if answer.refused and answer.quote is not None:  # the closest the articles come
        q = answer.quote
        print(_rtl(f"Closest: «{q.text}»") + f"\n  — {q.title} ({q.date or 'no date'})")
    return answer


def _sources(answer: Any, whole: bool = False) -> None:
    """The answer's sources: article, and the quote with its phrase marked (`whole`: the cited passage around it)."""
    if not answer.citations:
        return
    print("\nSources:")
    for c in answer.citations:
        mark = "" if c.supported else "  (not verified)"
        quote = c.quote
        if answer.quote is not None and answer.quote.n == c.n and answer.quote.phrase:
            quote = marked(answer.quote.text, answer.quote.phrase_start or 0, answer.quote.phrase_end or 0, sys.stdout.isatty())
        if whole and c.text:
            quote = c.text[: c.start] + quote + c.text[c.end :]
        print(f"[{c.n}] {c.title} ({c.date or 'no date'}) {c.doc_id}{mark}\n" + _rtl(f"    «{quote}»"))


def _timings(answer: Any) -> str:
    t = answer.timings
    quote_at = f"quote {t.quote_ms / 1000:.1f} s, " if t.quote_ms is not None else ""
    return f"(retrieval {t.retrieve_ms:.0f} ms, {quote_at}first token {t.ttft_ms / 1000:.1f} s, total {t.total_ms / 1000:.1f} s, prompt {t.prompt_tokens} tokens)"


def cmd_ask(args: argparse.Namespace) -> int:
    history = _read_history(args.history) if args.history else []
    answer = _show(_asker(args)(args.question, history), args.json)
    if not args.json:
        _sources(answer)
        print("\n" + _timings(answer), file=sys.stderr)
    return 0


CHAT_HELP = "Ask in Arabic or English. /new starts a new conversation, /sources shows the last answer's passages, /quit ends."


def cmd_chat(args: argparse.Namespace) -> int:
    """A conversation in the terminal: each answer streamed, its sources after it, follow-ups carrying the history."""
    ask = _asker(args, conversation=True)
    history: list[dict[str, str]] = []
    last = None
    print(CHAT_HELP, flush=True)
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            print()
            return 0
        if not question:
            continue
        if question in ("/quit", "/exit", "/q"):
            return 0
        if question == "/new":
            history, last = [], None
            print("(new conversation)")
            continue
        if question == "/sources":
            if last is None:
                print("(no answer yet)")
            else:
                _sources(last, whole=True)
            continue
        try:
            last = _show(ask(question, history), False)
        except RagError as exc:  # a bad question or a busy server ends the turn, not the conversation
            print(f"error: {exc}", file=sys.stderr, flush=True)
            continue
        _sources(last)
        print(_timings(last), file=sys.stderr, flush=True)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": last.answer}]


def marked(text: str, start: int, end: int, terminal: bool) -> str:
    """Text with [start, end) marked: bold and underlined on a terminal, in ⟦ ⟧ otherwise."""
    left, right = ("\x1b[1;4m", "\x1b[0m") if terminal else ("⟦", "⟧")
    return text[:start] + left + text[start:end] + right + text[end:]


def _read_history(path: str) -> list[dict[str, str]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RagError(f"Cannot read history file {path}: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str) for m in data):
        raise RagError(f"History file {path} must be a JSON list of {{role: user|assistant, content: str}}")
    return data


def cmd_eval(args: argparse.Namespace) -> int:
    from . import evaluation

    settings = _settings(args)
    return evaluation.main(settings, args)


def cmd_serve(args: argparse.Namespace) -> int:
    from . import server

    settings = _settings(args, host=args.host, port=args.port)
    server.serve(settings)
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from .settings import GROUPS, group_of

    settings = _settings(args)
    origins = settings.origins()

    def shown(name: str) -> Any:
        value = getattr(settings, name)
        if name == "database_url" and value:
            from .pgindex import redact

            return redact(value)
        return "(set)" if name in ("openai_api_key", "api_tokens") and value else str(value) if isinstance(value, Path) else value

    if args.json:
        print(json.dumps({name: {"value": shown(name), "from": origins[name]} for name in origins}, indent=1, ensure_ascii=False))
        return 0
    for group, title in GROUPS.items():
        print(f"# {title}")
        for name in origins:
            if group_of(name) == group:
                value = shown(name)
                print(f"{name} = {value if value == '(set)' else repr(value)}  [{origins[name]}]")
        print()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Answer questions about news articles, with verified citations.")
    parser.add_argument("--index", help="index folder (default: index/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="fetch, verify and list models")
    p.add_argument("action", choices=["fetch", "list"])
    p.add_argument("names", nargs="*", help="models to fetch (default: the configured embedding model and generator)")
    p.add_argument("--source", help="a local file or folder to take the model from")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("index", help="build or update the index")
    p.add_argument("--corpus", help="folder of .txt articles (default: seeds/)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="retrieve passages for a query")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid", "script"], default=None, help="default: the retrieval_mode setting")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question with citations (through a running `rag serve` when there is one)")
    p.add_argument("question")
    p.add_argument("--history", help="JSON file: list of {role, content}")
    p.add_argument("--json", action="store_true")
    p.add_argument("--local", action="store_true", help="answer in this process even when a server is running")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="a conversation in the terminal: follow-ups, /new, /sources, /quit")
    p.add_argument("--local", action="store_true", help="answer in this process even when a server is running")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("eval", help="evaluate on the dev and test sets and the outside sets (ARCD, XQuAD), side by side")
    p.add_argument("--sets", default="dev,test,arcd,xquad,xquad_en",
                   help="which of dev, test, arcd, arcd_en, xquad, xquad_en (default: all but arcd_en); the test set reports totals only")
    p.add_argument("--questions", default=None, help="another question set instead (full report)")
    p.add_argument("--out", default=None, help="report folder (default: eval/; eval/custom/ with --questions)")
    p.add_argument("--retrieval-only", action="store_true")
    p.add_argument("--generations", default=None, help="file keeping each generation by its prompt; a prompt found there is not generated again")
    p.add_argument("--limit", type=int, default=0, help="N questions of each set, evenly spread (with --questions: the first N)")
    p.add_argument("--ids", default="", help="comma-separated question ids")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("settings", help="print the effective settings and where each came from (default, config file, environment, flag)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser("serve", help="serve the chat UI, the HTTP API and the embeddable widget")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The command line: ``digestbot digest|ask|chat|run|health``.

Every failure a user can cause or meet (no key, unreachable server, empty or huge article)
ends in one line on stderr naming what to fix, and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import __version__

# Imported where used: `--version` and the store-only commands never load the model client,
# the tokenizer or the pipeline.
if TYPE_CHECKING:
    from pydantic import ValidationError

    from bot.core.errors import LLMError
    from bot.core.schemas import Digest
    from bot.core.service import DigestService, StoredArticle, Submission
    from bot.core.settings import Settings

CLI_SCOPE = "cli"
log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digestbot",
        description="Digest long news articles: summary, officials and commitments, each "
        "backed by a quote from the article.",
    )
    parser.add_argument("--version", action="version", version=f"digestbot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    digest = commands.add_parser("digest", help="digest an article file or link (- for stdin)")
    digest.add_argument(
        "file", help="article file (.txt, .md, .html, .pdf, .docx), an http(s) link, or -"
    )
    digest.add_argument("--json", action="store_true", help="print machine-readable JSON")
    digest.add_argument("--no-cache", action="store_true", help="ignore a cached digest")

    ask = commands.add_parser(
        "ask", help="ask one question about an article (--all: across all stored articles)"
    )
    ask.add_argument("file", help="article file or link, or - for stdin (with --all: the question)")
    ask.add_argument("question", nargs="?", help="the question about the article")
    ask.add_argument(
        "--all",
        action="store_true",
        help="answer from all the articles digestbot has stored, each line with its quote and "
        'its article: digestbot ask --all "QUESTION"',
    )
    ask.add_argument("--json", action="store_true", help="print machine-readable JSON")

    chat = commands.add_parser("chat", help="digest an article, then answer questions")
    chat.add_argument("file", help="article text file")

    commands.add_parser("run", help="run the Telegram bot")

    evaluate = commands.add_parser(
        "eval", help="score a digest and follow-up answers against reference answers"
    )
    evaluate.add_argument(
        "file",
        help="article text file, or a folder of <slug>.txt with <slug>.gold.json (one table)",
    )
    evaluate.add_argument("gold", nargs="?", help="reference answers (*.gold.json) of a file")
    evaluate.add_argument("--json", action="store_true", help="print machine-readable JSON")
    evaluate.add_argument(
        "--questions", type=int, metavar="N", help="ask only the first N follow-up questions"
    )

    from bot.cli import desk, migrate

    desk.add_commands(commands)
    migrate.add_command(commands)

    health = commands.add_parser("health", help="check settings and storage (for containers)")
    health.add_argument("--check-llm", action="store_true", help="also ping the model server")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        print(f"digestbot {__version__}")  # before the parser imports every command's module
        return 0
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "ask":
        if args.all and args.question is not None:
            parser.error('ask --all takes only the question: digestbot ask --all "QUESTION"')
        if not args.all and args.question is None:
            parser.error('ask needs an article and a question (or: ask --all "QUESTION")')
        if args.all:
            args.question, args.file = args.file, None
    import asyncio

    from pydantic import ValidationError

    from bot import logs
    from bot.cli import desk, migrate
    from bot.core.errors import BotError, ConfigError, LLMError
    from bot.core.settings import Settings

    try:
        settings = Settings()
    except ValidationError as error:
        return _fail(f"invalid settings: {_first_error(error)}", 2)
    secrets = [
        secret.get_secret_value()
        for secret in (
            settings.telegram_bot_token,
            settings.openai_api_key,
            settings.webhook_secret,
        )
        if secret is not None
    ]
    logs.configure(settings.log_level if args.command == "run" else "WARNING", secrets)
    try:
        if args.command == "run":
            from bot.telegram_app.app import run_bot

            return run_bot(settings)
        if args.command == "migrate-store":
            return migrate.run(args, settings)
        if args.command in desk.COMMANDS:
            return desk.run(args, settings, CLI_SCOPE)
        if args.command == "health":
            from bot.cli.health import check_health

            return asyncio.run(check_health(settings, check_llm=args.check_llm))
        return asyncio.run(_run_core(args, settings))
    except ConfigError as error:
        return _fail(error.user_message, 2)
    except LLMError as error:
        return _fail(user_line(error), 1)
    except BotError as error:  # the article or its source, the store, prompts, the tokenizer
        return _fail(error.user_message, 1)
    except OSError as error:
        return _fail(str(error), 1)
    except KeyboardInterrupt:
        return 130


async def _run_core(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli.views import answer_text, digest_text
    from bot.core.service import DigestService

    if args.command == "eval":
        return await _run_eval(args, settings)
    if args.command == "ask" and args.all:
        return await _ask_all(args, settings)
    submission = _submission(args.file, settings)
    service = DigestService.from_settings(settings)
    try:
        # Read, checked and stored as Telegram takes an article in: with its page's title and
        # link, or its file's name, and the date the page gives.
        reuse = args.command == "digest" and not args.no_cache
        article = await service.take_in(submission, CLI_SCOPE, reuse_digest=reuse)
        if args.command == "digest":
            digest = await service.digest(article, use_cache=not args.no_cache)
            if args.json:  # the article's date comes from the store, not from the digest
                data = json.loads(digest.model_dump_json())
                data["date"] = {"date": article.reported_date, "basis": article.date_basis}
                print(json.dumps(data, indent=2, ensure_ascii=False))
            else:
                print(digest_text(digest, date=_date_line(article)))
            _warn_unsaved(service, article)
        elif args.command == "ask":
            answer = await service.ask(article, args.question)
            if args.json:
                print(json.dumps(answer.model_dump(), indent=2, ensure_ascii=False))
            else:
                print(answer_text(answer))
        else:
            digest = await service.digest(article)
            _warn_unsaved(service, article)
            await _chat(service, article, digest)
    finally:
        await service.aclose()
    return 0


async def _ask_all(args: argparse.Namespace, settings: Settings) -> int:
    """``ask --all``: the question answered from all of the CLI's articles, each line with its
    quote and its article; "Not stated in your articles." (exit 0, as ``ask``) when none
    says."""
    from bot.cli.views import cross_answer_text
    from bot.core.service import DigestService

    service = DigestService.from_settings(settings)
    try:
        answer = await service.ask_across(args.question, CLI_SCOPE)
    finally:
        await service.aclose()
    if args.json:
        print(json.dumps(answer.model_dump(), indent=2, ensure_ascii=False))
    else:
        print(cross_answer_text(answer))
    return 0


def _date_line(article: StoredArticle) -> str:
    from bot.core.service import date_line

    return date_line(article.reported_date, article.date_basis, article.created_at)


def _warn_unsaved(service: DigestService, article: StoredArticle) -> None:
    """The model's work is shown even when the store could not keep it: say so, once."""
    if (why := service.not_saved(article)) is not None:
        print(f"digestbot: the digest above was not saved: {why}", file=sys.stderr)


async def _run_eval(args: argparse.Namespace, settings: Settings) -> int:
    """``eval FILE GOLD``: one article in detail; ``eval FOLDER``: one table for all."""
    from bot.cli.evaluation import evaluate, evaluate_folder
    from bot.cli.views import corpus_text, eval_text
    from bot.core.service import DigestService

    folder, text, gold = _eval_inputs(args.file, args.gold)
    service = DigestService.from_settings(settings)
    try:
        if folder is not None:
            corpus = await evaluate_folder(
                service, folder, on_row=_progress, max_questions=args.questions
            )
            if args.json:
                payload = {**corpus.model_dump(), "total": corpus.total.model_dump()}
                print(json.dumps(payload, indent=2, ensure_ascii=False))
            else:
                print(corpus_text(corpus))
        else:
            report = await evaluate(service, text, gold, max_questions=args.questions)
            print(report.model_dump_json(indent=2) if args.json else eval_text(report))
    finally:
        await service.aclose()
    return 0


def _eval_inputs(name: str, gold: str | None) -> tuple[Path | None, str, dict[str, Any]]:
    """(folder, "", {}) for a folder of articles, else (None, article, gold answers)."""
    from bot.cli.evaluation import corpus_articles
    from bot.core.errors import ArticleError

    folder = Path(name)
    if folder.is_dir():
        if gold is not None:
            raise ArticleError("eval FOLDER takes no gold file: each <slug>.gold.json is beside it")
        if not corpus_articles(folder):
            raise ArticleError(f"no <slug>.txt with a <slug>.gold.json beside it in {folder}")
        return folder, "", {}
    if gold is None:
        raise ArticleError("eval FILE needs its reference answers: digestbot eval FILE GOLD")
    return None, _read_article(name), json.loads(_read_article(gold))


async def _chat(service: DigestService, article: StoredArticle, digest: Digest) -> None:
    import asyncio

    from bot.cli.views import answer_text, digest_text
    from bot.core.errors import ArticleError, LLMError

    print(digest_text(digest, date=_date_line(article)))
    print("\nAsk about the article (empty line or Ctrl-D to quit).")
    while True:
        try:
            question = (await asyncio.to_thread(input, "\n? ")).strip()
        except EOFError:
            break
        if not question:
            break
        try:
            print(answer_text(await service.ask(article, question)))
        except LLMError as error:
            print(f"(could not answer: {user_line(error)})", file=sys.stderr)
        except ArticleError as error:  # e.g. a question of bytes that are not UTF-8
            print(f"(could not answer: {error.user_message})", file=sys.stderr)


def user_line(error: LLMError) -> str:
    """The user's line for a model failure; the detail (server, schema) goes to the log."""
    log.info("model failure: %s", error)
    hint = f" Check {error.setting}." if error.setting else ""
    return error.user_message + hint


def _read_article(name: str) -> str:
    from bot.core.errors import ArticleError

    if name == "-":
        return _stdin()
    path = Path(name)
    if not path.is_file():
        raise ArticleError(f"no such file: {name}")
    return path.read_text(encoding="utf-8", errors="replace")


def _submission(name: str, settings: Settings) -> Submission:
    """What ``digest|ask|chat`` is given, for the service to read: standard input's text, a
    link, or a file's bytes. A file is read before the model is set up, so a wrong name is
    the first thing said; and at most one byte past the size limit, which the service then
    refuses in its own words without a huge file being read whole."""
    from bot.core.errors import SourceError
    from bot.core.service import Submission

    if name == "-":
        return Submission(text=_stdin())
    if re.match(r"^[a-z][a-z0-9+.-]*://", name, re.IGNORECASE):
        return Submission(url=name)  # any scheme: the service refuses all but http(s) clearly
    path = Path(name)
    if not path.is_file():
        raise SourceError(f"no such file: {path}")
    with path.open("rb") as file:
        return Submission(data=file.read(settings.fetch_max_bytes + 1), filename=path.name)


def _stdin() -> str:
    """Standard input as text whatever the locale: bytes that are not UTF-8 become U+FFFD
    (the service refuses an input made only of them, in one line)."""
    return sys.stdin.buffer.read().decode("utf-8", errors="replace")


def _progress(row: Any) -> None:
    """A line on stderr per article done, so a slow model's eval shows where it is."""
    done = (
        f"officials {row.officials_found}/{row.officials_expected}, titles {row.titles_right}, "
        f"commitments {row.commitments_found}/{row.commitments_expected}, {row.seconds:.0f} s"
    )
    print(f"eval: {row.article}: {row.error or done}", file=sys.stderr, flush=True)


def _first_error(error: ValidationError) -> str:
    item = error.errors()[0]
    where = ".".join(str(p) for p in item["loc"])
    return f"{where}: {item['msg']}"


def _fail(message: str, code: int) -> int:
    print(f"digestbot: {message}", file=sys.stderr)
    return code

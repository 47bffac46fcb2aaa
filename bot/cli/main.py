"""The command line: ``digestbot digest|ask|chat|run|health``.

Every failure a user can cause or meet (no key, unreachable server, empty or huge article)
ends in one line on stderr naming what to fix, and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from bot import __version__, logs
from bot.cli import register
from bot.cli.views import answer_text, digest_text, eval_text
from bot.core.digest import ArticleError
from bot.core.evaluation import evaluate
from bot.core.llm import LLMError
from bot.core.prompts import PromptError
from bot.core.schemas import Digest
from bot.core.service import ConfigError, DigestService
from bot.core.settings import Settings
from bot.core.store import StoredArticle, StoreError

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

    digest = commands.add_parser("digest", help="digest an article file (or - for stdin)")
    digest.add_argument("file", help="article text file, or - to read standard input")
    digest.add_argument("--json", action="store_true", help="print machine-readable JSON")
    digest.add_argument("--no-cache", action="store_true", help="ignore a cached digest")

    ask = commands.add_parser("ask", help="ask one question about an article")
    ask.add_argument("file", help="article text file, or - to read standard input")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print machine-readable JSON")

    chat = commands.add_parser("chat", help="digest an article, then answer questions")
    chat.add_argument("file", help="article text file")

    commands.add_parser("run", help="run the Telegram bot")

    evaluate = commands.add_parser(
        "eval", help="score a digest and follow-up answers against reference answers"
    )
    evaluate.add_argument("file", help="article text file")
    evaluate.add_argument("gold", help="reference answers (*.gold.json)")
    evaluate.add_argument("--json", action="store_true", help="print machine-readable JSON")

    register.add_commands(commands)

    health = commands.add_parser("health", help="check settings and storage (for containers)")
    health.add_argument("--check-llm", action="store_true", help="also ping the model server")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
        if args.command in register.COMMANDS:
            return register.run(args, settings, CLI_SCOPE)
        if args.command == "health":
            from bot.cli.health import check_health

            return asyncio.run(check_health(settings, check_llm=args.check_llm))
        return asyncio.run(_run_core(args, settings))
    except ConfigError as error:
        return _fail(str(error), 2)
    except LLMError as error:
        return _fail(user_line(error), 1)
    except (ArticleError, StoreError, PromptError, OSError) as error:
        return _fail(str(error), 1)
    except KeyboardInterrupt:
        return 130


async def _run_core(args: argparse.Namespace, settings: Settings) -> int:
    text = _read_article(args.file)
    gold = json.loads(_read_article(args.gold)) if args.command == "eval" else None
    service = DigestService.from_settings(settings)
    try:
        if gold is not None:
            report = await evaluate(service, text, gold)
            print(report.model_dump_json(indent=2) if args.json else eval_text(report))
            return 0
        service.check_article(text)
        article = service.save_article(CLI_SCOPE, text)
        if args.command == "digest":
            digest = await service.digest(article, use_cache=not args.no_cache)
            print(digest.model_dump_json(indent=2) if args.json else digest_text(digest))
        elif args.command == "ask":
            answer = await service.ask(article, args.question)
            if args.json:
                print(json.dumps(answer.model_dump(), indent=2, ensure_ascii=False))
            else:
                print(answer_text(answer))
        else:
            digest = await service.digest(article)
            await _chat(service, article, digest)
    finally:
        await service.aclose()
    return 0


async def _chat(service: DigestService, article: StoredArticle, digest: Digest) -> None:
    print(digest_text(digest))
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


def user_line(error: LLMError) -> str:
    """The user's line for a model failure; the detail (server, schema) goes to the log."""
    log.info("model failure: %s", error)
    hint = f" Check {error.setting}." if error.setting else ""
    return error.user_message + hint


def _read_article(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    path = Path(name)
    if not path.is_file():
        raise ArticleError(f"no such file: {name}")
    return path.read_text(encoding="utf-8", errors="replace")


def _first_error(error: ValidationError) -> str:
    item = error.errors()[0]
    where = ".".join(str(p) for p in item["loc"])
    return f"{where}: {item['msg']}"


def _fail(message: str, code: int) -> int:
    print(f"digestbot: {message}", file=sys.stderr)
    return code

"""Speed figures against the fake model server (fixed latency per call); prints a table.

    python bench/bench.py            # digest engine: 1k, 5k, 20k, 50k-token articles
    python bench/bench.py --chats    # also: 20 Telegram chats pasting at the same moment

Targets (issue 2): at most 2 round trips on the critical path; prompt tokens at most
1.2 x article tokens + a fixed prompt overhead per call; wall time within 2.5 calls'
latency up to 20k tokens at the default concurrency. (Issue 3): with a 2 s model, every
one of 20 simultaneous digests is delivered within 3 latencies of its paste.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.chunking import NumberedArticle  # noqa: E402
from bot.core.prompts import PromptLibrary  # noqa: E402
from bot.core.service import DigestService  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.fakes.openai_server import MESSAGE_OVERHEAD_TOKENS, FakeOpenAIServer  # noqa: E402
from tests.fakes.scripted_model import ScriptedModel, zhaoqing_people  # noqa: E402

ARTICLE = (ROOT / "tests" / "data" / "zhaoqing-die-casting-summit.txt").read_text("utf-8")


def article_of(tokens: int, count: object) -> str:
    """Copies of the shared article, each with its own heading, cut near ``tokens``."""
    counter = count  # type: ignore[assignment]
    parts: list[str] = []
    copy = 1
    while counter("\n\n".join(parts)) < tokens:  # type: ignore[operator]
        parts.append(f"Part {copy}.\n\n{ARTICLE}")
        copy += 1
    text = "\n\n".join(parts)
    while counter(text) > tokens * 1.05:  # type: ignore[operator]
        text = text[: int(len(text) * 0.97)].rsplit("\n", 1)[0]
    return text


def overhead_per_call(service: DigestService) -> int:
    """Tokens a call costs besides the article text: system prompt, fence, task, framing."""
    library: PromptLibrary = service.prompts
    task = library.render(
        "extract_chunk",
        part=1,
        parts=9,
        context_note=" Report on sentences [100] to [200] (the NEW sentences). Sentences [98] "
        "to [99] repeat the end of the previous part for context only.",
    )
    parts = [library.render("system"), library.render("article", article=""), task]
    return sum(service.tokens(p) for p in parts) + len(parts) * MESSAGE_OVERHEAD_TOKENS


async def digest_figures(latency: float) -> None:
    print(f"Digest engine, fake model latency {latency:.2f} s per call, default settings\n")
    header = (
        f"{'article':>8} {'tokens':>7} {'chunks':>6} {'calls':>5} {'trips':>5} "
        f"{'prompt/article':>14} {'budget ok':>9} {'wall/latency':>12}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as folder, FakeOpenAIServer(latency=latency) as server:
        service = DigestService.from_settings(make_settings(Path(folder), server))
        server.count_tokens = service.tokens
        server.responder = ScriptedModel(people=zhaoqing_people())
        fixed = overhead_per_call(service)
        for target in (1_000, 5_000, 20_000, 50_000):
            text = article_of(target, service.tokens)
            tokens = NumberedArticle(text, service.tokens, 400).tokens
            server.reset()
            started = time.monotonic()
            digest = await service.digest(service.save_article("bench", text), use_cache=False)
            wall = time.monotonic() - started
            stats = digest.stats
            allowed = 1.2 * tokens + fixed * stats.llm_calls
            print(
                f"{target // 1000:>7}k {tokens:>7} {stats.chunks:>6} {stats.llm_calls:>5} "
                f"{stats.round_trips:>5} {stats.prompt_tokens / tokens:>14.2f} "
                f"{'yes' if stats.prompt_tokens <= allowed else 'NO':>9} "
                f"{wall / latency:>12.2f}"
            )
        await service.aclose()
    print(
        f"\nfixed prompt overhead per call: {fixed} tokens; 'budget ok' means prompt tokens "
        "<= 1.2 x article + overhead x calls"
    )


async def chat_figures(latency: float, chats: int) -> None:
    from tests.fakes.telegram_api import FakeTelegramServer
    from tests.test_telegram_bot import digest_messages, fragments, running

    print(
        f"\n{chats} Telegram chats paste an article at the same moment; model latency "
        f"{latency:.1f} s\n"
    )
    with (
        tempfile.TemporaryDirectory() as folder,
        FakeOpenAIServer(latency=latency) as llm,
        FakeTelegramServer() as tg,
    ):
        llm.responder = ScriptedModel(people=zhaoqing_people())
        settings = make_settings(
            Path(folder),
            llm,
            telegram_bot_token=tg.token,
            telegram_base_url=tg.base_url,
            telegram_base_file_url=tg.base_file_url,
            allowed_users="*",
        )
        async with running(settings):
            pasted: dict[int, float] = {}
            for chat in range(1, chats + 1):
                text = f"Report number {chat} from our desk.\n\n{ARTICLE}"
                for piece in fragments(text, 2):
                    tg.user_sends_text(chat, chat, piece)
                pasted[chat] = time.monotonic()
            delivered: dict[int, float] = {}
            deadline = time.monotonic() + 10 * latency + 30
            while len(delivered) < chats and time.monotonic() < deadline:
                for chat in pasted:
                    if chat not in delivered and digest_messages(tg, chat):
                        delivered[chat] = time.monotonic()
                await asyncio.sleep(0.02)
        delays = sorted(delivered[c] - pasted[c] for c in delivered)
        quiet = settings.fragment_quiet_seconds
        print(
            f"delivered {len(delays)}/{chats}; paste-to-digest seconds: "
            f"min {delays[0]:.2f}, median {delays[len(delays) // 2]:.2f}, max {delays[-1]:.2f}"
        )
        print(
            f"max / latency = {delays[-1] / latency:.2f} (target <= 3; includes the "
            f"{quiet:.1f} s quiet period that ends a paste); peak model requests in flight: "
            f"{llm.max_in_flight}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.5, help="model latency per call")
    parser.add_argument("--chats", action="store_true", help="also the 20-chat Telegram figure")
    parser.add_argument("--chat-latency", type=float, default=2.0)
    args = parser.parse_args()
    asyncio.run(digest_figures(args.latency))
    if args.chats:
        asyncio.run(chat_figures(args.chat_latency, 20))


if __name__ == "__main__":
    main()

"""Speed figures against the fake model server (fixed latency per call); prints tables.

    python bench/bench.py            # planning, grounding CPU, digests at 1k-100k, CLI start
    python bench/bench.py --chats    # also: 20 Telegram chats pasting at the same moment
    python bench/bench.py --quality  # only: the corpus table with the model that answers right

``--quality`` runs ``digestbot eval`` on the corpus (``--corpus``, default ``tests/data``) with
the fake "gold" model (``tests/fakes/gold_model.py``), as a full model and as a small one: what
the code loses or adds to perfect drafts (duplicates, commitments with words the article does
not have, key points, summary points covered). A real model is measured with ``digestbot eval``.

Every time is a ratio to one call's latency (``--latency``, default 1.0 s). Targets (issue 11):
with OpenAI-class limits (128k context, 16k output) at most 2 round trips on the critical path
for every article up to the 100k-token limit, counted from the fake server's own log (request
start and finish times), and ``stats.round_trips`` equal to that count; wall time within 1.15
latencies at 1k and 2.3 at 26k and 50k; prompt tokens at most 1.15 x the article at 26k and
50k; grounding and merging of a 50k article under 0.3 s CPU, linear in the article;
``digestbot --version`` under 0.3 s and a cached ``digestbot digest`` under 0.8 s wall; with a
2 s model, each of 20 simultaneous digests delivered within 3 latencies of its paste.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.reading.chunking import NumberedArticle, render_sentences  # noqa: E402
from bot.core.reading.grounding import ground_drafts  # noqa: E402
from bot.core.reading.planning import plan  # noqa: E402
from bot.core.schemas import ChunkExtraction, CitedCommitment, CitedOfficial  # noqa: E402
from bot.core.service import DigestService  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.fakes import openai_server, telegram_api  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, RecordedRequest  # noqa: E402
from tests.fakes.scripted_model import ScriptedModel, zhaoqing_people  # noqa: E402

# The fakes listen with socketserver's default backlog of 5: a burst of more connections (each
# reply closes its connection) loses SYNs, and the client's retry adds a full second, which no
# real server does. The bench measures the bot, so its fakes take a real server's backlog.
BACKLOG = 128
openai_server._HTTPServer.request_queue_size = BACKLOG
telegram_api._Server.request_queue_size = BACKLOG

ARTICLE_FILE = ROOT / "tests" / "data" / "zhaoqing-die-casting-summit.txt"
ARTICLE = ARTICLE_FILE.read_text("utf-8")
SIZES = (1_000, 5_000, 26_000, 50_000, 95_000)
Count = Callable[[str], int]


def article_of(tokens: int, count: Count) -> str:
    """Copies of the shared article, each with its own heading, cut near ``tokens``."""
    parts: list[str] = []
    copy = 1
    while count("\n\n".join(parts)) < tokens:
        parts.append(f"Part {copy}.\n\n{ARTICLE}")
        copy += 1
    text = "\n\n".join(parts)
    while count(text) > tokens * 1.05:
        text = text[: int(len(text) * 0.97)].rsplit("\n", 1)[0]
    return text


def server_round_trips(requests: Iterable[RecordedRequest]) -> int:
    """Longest chain of model requests in the server's log where each one started after the
    one before it had finished: the round trips a user waited for."""
    spans = sorted(
        (r.started_at, r.finished_at)
        for r in requests
        if r.path.endswith("/chat/completions") and r.finished_at is not None
    )
    depth: list[int] = []
    for index, (start, _) in enumerate(spans):
        before = [depth[i] for i in range(index) if spans[i][1] <= start]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


def mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


def planning_figures(service: DigestService) -> None:
    """Chunks each server profile gets, from its limits alone (no calls)."""
    engine = service.engine
    base = engine.limits()
    small = replace(engine.config, small_model=True)
    small_overhead = type(engine)(engine.llm, engine.prompts, engine.count_tokens, small)
    profiles = {
        "OpenAI-class (128k ctx, 16k out)": base,
        "llama.cpp server (32k ctx, 4k out)": replace(
            base, context_tokens=32_768, output_tokens=4096
        ),
        "embedded small model (names only)": replace(
            small_overhead.limits(), context_tokens=32_768
        ),
    }
    print(f"Chunk plan by server profile (concurrency {base.concurrency}): chunks x tokens each\n")
    header = f"{'profile':<36}" + "".join(f"{f'{s // 1000}k':>14}" for s in SIZES)
    print(header)
    print("-" * len(header))
    for name, limits in profiles.items():
        cells = []
        for size in SIZES:
            rendered = int(size * 1.11)  # numbered form, as packing counts it
            planned = plan(rendered, limits)
            each = rendered if planned.single else min(planned.budget, rendered)
            cells.append(f"{planned.chunks:>3} x {each:>6,}")
        print(f"{name:<36}" + "".join(f"{c:>14}" for c in cells))
    print()


def drafts_for(
    article: NumberedArticle, model: ScriptedModel, service: DigestService
) -> tuple[list[CitedOfficial], list[CitedCommitment]]:
    """What the scripted model reports for each planned chunk, as the digest would get it."""
    from bot.core.reading.planning import cut

    officials: list[CitedOfficial] = []
    commitments: list[CitedCommitment] = []
    for chunk in cut(article, service.engine.limits()):
        numbered = render_sentences(chunk.sentences)
        note = f"Report on sentences [{chunk.new_sentences[0].number}] to "
        note += f"[{chunk.new_sentences[-1].number}]"
        request = {
            "messages": [{"role": "user", "content": numbered}, {"role": "user", "content": note}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "ChunkExtraction"}},
        }
        found = ChunkExtraction.model_validate_json(model(request))
        officials += found.officials
        commitments += found.commitments
    return officials, commitments


def distinct_article_of(tokens: int, count: Count) -> str:
    """Copies of the shared article whose sentences all differ, so no cache sees one twice."""
    parts: list[str] = []
    copy = 1
    while count("\n\n".join(parts)) < tokens:
        parts.append(f"Part {copy}.\n\n" + ARTICLE.replace(". ", f" in round {copy}. "))
        copy += 1
    return "\n\n".join(parts)


def grounding_figures(service: DigestService) -> None:
    """CPU of grounding and merging alone (no model calls), on articles of distinct sentences
    with the text caches emptied first; the median of three runs."""
    from bot.core.reading import matching

    model = ScriptedModel(people=zhaoqing_people())
    seconds: dict[int, float] = {}
    for size in (1_000, 25_000, 50_000):  # the first one pays once-a-process costs (regexes)
        article = NumberedArticle(distinct_article_of(size, service.tokens), service.tokens, 400)
        officials, commitments = drafts_for(article, model, service)
        runs = []
        for _ in range(3):
            for cached in (matching.normalize, matching.aligned, matching.expand):
                cached.cache_clear()
            started = time.process_time()
            ground_drafts(article, officials, commitments)
            runs.append(time.process_time() - started)
        seconds[size] = statistics.median(runs)
    ratio = seconds[50_000] / max(seconds[25_000], 1e-9)
    print(
        f"Grounding + merging CPU: 25k {seconds[25_000]:.3f} s, 50k {seconds[50_000]:.3f} s "
        f"(target < 0.3 s: {mark(seconds[50_000] < 0.3)}); 50k / 25k = {ratio:.2f} "
        "(linear: about 2)\n"
    )


async def warm_service(folder: Path, server: FakeOpenAIServer) -> DigestService:
    """A service on the scripted fake, warmed as a running bot is: the tokenizer and the
    helper process (``warm_up``, as `digestbot run` does at start), then one digest (the
    client's connection pool and schemas are set up once per process)."""
    service = DigestService.from_settings(make_settings(folder, server))
    server.count_tokens = service.tokens
    server.responder = ScriptedModel(people=zhaoqing_people())
    service.warm_up()
    await service.digest(service.save_article("bench", ARTICLE), use_cache=False)
    return service


async def digest_figures(latency: float) -> None:
    print(f"Digest engine, fake model latency {latency:.2f} s per call, default settings\n")
    header = (
        f"{'article':>8} {'tokens':>7} {'chunks':>6} {'calls':>5} {'trips(log)':>10} "
        f"{'trips(stats)':>12} {'prompt/article':>14} {'wall/latency':>12} "
        f"{'numbering':>9}  targets"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as folder, FakeOpenAIServer(latency=latency) as server:
        service = await warm_service(Path(folder), server)
        for target in SIZES:
            text = article_of(target, service.tokens)
            numbering = time.monotonic()  # the sentence numbering alone, part of the wall time
            NumberedArticle(text, service.tokens, 400)
            numbering = (time.monotonic() - numbering) / latency
            server.reset()
            started = time.monotonic()
            digest = await service.digest(service.save_article("bench", text), use_cache=False)
            wall = (time.monotonic() - started) / latency
            stats = digest.stats
            trips = server_round_trips(server.requests)
            ratio = stats.prompt_tokens / stats.article_tokens
            goals = [f"trips {mark(trips <= 2 and trips == stats.round_trips)}"]
            if target <= 1_000:
                goals.append(f"wall<=1.15 {mark(wall <= 1.15)}")
            if 26_000 <= target <= 50_000:
                goals.append(f"wall<=2.3 {mark(wall <= 2.3)}")
                goals.append(f"prompt<=1.15 {mark(ratio <= 1.15)}")
            print(
                f"{target // 1000:>7}k {stats.article_tokens:>7} {stats.chunks:>6} "
                f"{stats.llm_calls:>5} {trips:>10} {stats.round_trips:>12} {ratio:>14.2f} "
                f"{wall:>12.2f} {numbering:>9.2f}  {', '.join(goals)}"
            )
        await service.aclose()
    print(
        "\ntrips(log): longest chain of requests in the fake server's log, each started after "
        "the previous one finished.\nnumbering: splitting and numbering the article's "
        "sentences (syntok) alone, in latencies; the wall time includes it."
    )


def cli_figures() -> None:
    """Wall time of `digestbot --version` and of a cached `digestbot digest`, as users run them."""
    script = Path(sys.executable).with_name("digestbot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    with tempfile.TemporaryDirectory() as folder, FakeOpenAIServer() as server:
        server.responder = ScriptedModel(people=zhaoqing_people())
        own = ("BOT_", "OPENAI_", "TELEGRAM_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(own)} | {
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "bench-key",
            "BOT_MODEL": "fake-model",
            "BOT_DATA_DIR": str(Path(folder) / "data"),
            "BOT_LLM_MAX_RETRIES": "0",
        }

        def timed(args: list[str], runs: int) -> tuple[float, float]:
            """Median wall and CPU seconds of ``digestbot ARGS``."""
            walls, cpus = [], []
            for _ in range(runs):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.monotonic()
                done = subprocess.run(
                    [*command, *args], cwd=folder, env=env, capture_output=True, timeout=120
                )
                walls.append(time.monotonic() - started)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                if done.returncode != 0:
                    raise SystemExit(f"digestbot {' '.join(args)} failed: {done.stderr[-500:]!r}")
            return statistics.median(walls), statistics.median(cpus)

        version, version_cpu = timed(["--version"], 5)
        timed(["digest", str(ARTICLE_FILE)], 1)  # the first run makes the digest
        cached, cached_cpu = timed(["digest", str(ARTICLE_FILE)], 3)
    print(
        f"\nCommand line (median wall, CPU): --version {version:.2f} s, {version_cpu:.2f} s "
        f"(target < 0.3 wall: {mark(version < 0.3)}); digest of a cached article "
        f"{cached:.2f} s, {cached_cpu:.2f} s (target < 0.8 wall: {mark(cached < 0.8)})"
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
            f"max / latency = {delays[-1] / latency:.2f} (target <= 3: "
            f"{mark(len(delays) == chats and delays[-1] / latency <= 3)}; includes the "
            f"{quiet:.1f} s quiet period that ends a paste); peak model requests in flight: "
            f"{llm.max_in_flight}"
        )


async def langchain_note(latency: float) -> None:
    """Issue 11's comparison with LangChain's documented recipes (bench/langchain_recipe.py),
    when the bench extra is installed: ours and theirs on one fake server, the same latency and
    articles, ours measured again on it so that every row shares the server."""
    from bench import langchain_recipe as lc

    if not lc.available():
        print(f"\nLangChain comparison (issue 11): {lc.INSTALL} installs it (the bench extra).")
        return
    print(
        f"\nLangChain's documented recipes and ours, on one fake server (latency {latency:.2f} s "
        "per call), the same articles\n"
    )
    header = (
        f"{'article':>8} {'recipe':<34} {'chunks':>6} {'calls':>5} {'trips(log)':>10} "
        f"{'prompt/article':>14} {'wall/latency':>12}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as folder, FakeOpenAIServer(latency=latency) as server:
        service = await warm_service(Path(folder), server)
        articles = {size: article_of(size, service.tokens) for size in (5_000, 26_000, 50_000)}
        ours: dict[int, tuple[str, int, list[RecordedRequest], float]] = {}
        for size, text in articles.items():
            server.reset()
            started = time.monotonic()
            digest = await service.digest(service.save_article("bench", text), use_cache=False)
            wall = time.monotonic() - started
            stats = digest.stats
            ours[size] = (str(stats.chunks), stats.llm_calls, list(server.requests), wall)
        theirs = await lc.langchain_figures(
            server, openai_server.FAKE_MODEL, articles, zhaoqing_people(), count=service.tokens
        )
        await service.aclose()
    for size, text in articles.items():
        tokens = service.tokens(text)
        chunks, calls, log, wall = ours[size]
        rows = [("ours: digest", chunks, calls, log, wall)]
        rows += [
            (f"LangChain: {row.recipe}", row.chunks, row.calls, row.requests, row.wall)
            for row in theirs
            if row.target == size
        ]
        for name, chunks, calls, log, wall in rows:
            prompt = lc.logged_prompt_tokens(log, service.tokens) / tokens
            print(
                f"{size // 1000:>7}k {name:<34} {chunks:>6} {calls:>5} "
                f"{server_round_trips(log):>10} {prompt:>14.2f} {wall / latency:>12.2f}"
            )
    print(
        "\nours: summary, officials and commitments in one digest.\nLangChain summary: "
        f"load_summarize_chain map_reduce over {lc.SUMMARY_CHUNK_TOKENS}-token chunks, the "
        f"summaries collapsed while above {lc.SUMMARY_TOKEN_MAX} tokens.\n+ officials, "
        "alongside it: with_structured_output(Officials).batch over "
        f"{lc.EXTRACTION_CHUNK_TOKENS}-token chunks, max_concurrency "
        f"{lc.EXTRACTION_CONCURRENCY}.\nprompt/article: from the server's log for every row, "
        "counted as it counts usage."
    )


async def quality_figures(corpus: Path) -> None:
    """The corpus table of ``digestbot eval`` with the gold model, full and small."""
    from bot.cli.evaluation import evaluate_folder
    from bot.cli.views import corpus_text
    from tests.fakes.gold_model import GoldModel

    for small in (False, True):
        with tempfile.TemporaryDirectory() as folder, FakeOpenAIServer() as server:
            settings = make_settings(Path(folder), server, server="openai", small_model=small)
            service = DigestService.from_settings(settings)
            server.count_tokens = service.tokens
            server.responder = GoldModel(service.tokens)
            try:
                report = await evaluate_folder(service, corpus, max_questions=0)
            finally:
                await service.aclose()
        kind = "small model (names, brief pledges, no key points)" if small else "full model"
        print(f"\nCorpus {corpus}, the gold model as a {kind}\n")
        print(corpus_text(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--latency", type=float, default=1.0, help="model latency per call")
    parser.add_argument("--chats", action="store_true", help="also the 20-chat Telegram figure")
    parser.add_argument("--chat-latency", type=float, default=2.0)
    parser.add_argument("--quality", action="store_true", help="only the corpus quality table")
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "data")
    args = parser.parse_args()
    if args.quality:
        asyncio.run(quality_figures(args.corpus))
        return
    load = os.getloadavg()[0]
    print(f"Machine: {os.cpu_count()} CPUs, load average {load:.1f} (timings grow with load)\n")
    with tempfile.TemporaryDirectory() as folder, FakeOpenAIServer() as server:
        service = DigestService.from_settings(make_settings(Path(folder), server))
        grounding_figures(service)  # first: nothing in this process has warmed its caches
        planning_figures(service)
        asyncio.run(service.aclose())
    asyncio.run(digest_figures(args.latency))
    cli_figures()
    if args.chats:
        asyncio.run(chat_figures(args.chat_latency, 20))
    asyncio.run(langchain_note(args.latency))


if __name__ == "__main__":
    main()

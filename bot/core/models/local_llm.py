"""The embedded model as an ``LLM``: the same OpenAI-compatible path as every other backend.

llama.cpp's server is started on first use (not at import or start-up, so ``health`` and the
cache stay instant), on a free port of 127.0.0.1, and stopped by ``aclose``. Everything after
that is ``OpenAICompatibleLLM`` talking to it through the openai client. A server that has
died (crash, OOM kill) is replaced by a fresh one, so one crash does not fail every later call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import replace
from pathlib import Path

import openai

from bot import __version__
from bot.core.errors import LeaseHeld, LLMError, LLMUnavailable, LocalModelError
from bot.core.models.capabilities import PROFILES
from bot.core.models.gguf import DEFAULT_MODEL, ensure_default_model
from bot.core.models.lease import Lease
from bot.core.models.llama_child import CHOSEN_ENV, SKIP_ENV
from bot.core.models.llama_server import (
    LOCAL_CONTEXT_TOKENS,
    AttachedServer,
    LocalModelServer,
    usable_cpus,
)
from bot.core.models.llm import LLM, ChatMessage, Completion, T
from bot.core.models.openai_llm import OpenAICompatibleLLM
from bot.core.schemas import Usage

log = logging.getLogger(__name__)
# In the data folder: CPU backends that crashed here, and the one the last server chose.
_SKIPPED_BACKENDS = "cpu-backends-skipped"
_CHOSEN_BACKEND = "cpu-backend-chosen"

# A small model on a CPU is slow: a long article's chunk can take minutes.
LOCAL_TIMEOUT_SECONDS = 900.0


class LocalLLM(LLM):
    # llama.cpp's server compiles the schema into a grammar; a 1.5B model is small.
    # It answers one request at a time (see LocalModelServer).
    capabilities = replace(
        PROFILES["llamacpp"], small=True, context_tokens=LOCAL_CONTEXT_TOKENS,
        output_tokens=2048, parallel=1,
    )  # fmt: skip

    def __init__(
        self,
        data_dir: Path,
        model_file: Path | None,
        *,
        max_output_tokens: int,
        threads: int | None = None,
        keep_alive: float = 0.0,
    ) -> None:
        self.data_dir = data_dir
        self.model_file = model_file
        self.max_output_tokens = max_output_tokens
        self.threads = threads
        # Seconds the server stays loaded after the last process using it lets go (0: it
        # stops with this one): the next command's follow-up then finds the article read.
        self.keep_alive = keep_alive
        self._renewing: asyncio.Task[None] | None = None
        # The cache key names the weights, so a different GGUF never reuses old digests.
        self.model = f"local:{(model_file.name if model_file else DEFAULT_MODEL.file_name)}"
        self._lock = asyncio.Lock()
        self._server: LocalModelServer | AttachedServer | None = None
        self._inner: OpenAICompatibleLLM | None = None

    @property
    def server(self) -> str:
        return self._inner.server if self._inner else "the embedded local model"

    async def structured(
        self, messages: list[ChatMessage], schema: type[T], *, max_tokens: int | None = None
    ) -> Completion[T]:
        inner = await self._started()
        server = self._server
        try:
            return await inner.structured(messages, schema, max_tokens=max_tokens)
        except LLMUnavailable as error:
            # A connection error from a server that died under the call: restart, retry once.
            if server is None or not await server.exited(within=2.0):
                raise
            inner = await self._started()
            try:
                completion = await inner.structured(messages, schema, max_tokens=max_tokens)
            except LLMError as retry_error:
                retry_error.usage = _sum(retry_error.usage, error.usage)
                raise
            completion.usage = _sum(completion.usage, error.usage) or completion.usage
            return completion

    async def _started(self) -> OpenAICompatibleLLM:
        async with self._lock:
            if self._server is not None and not self._server.running:
                await self._discard_dead_server(self._server)
            if self._inner is not None:
                return self._inner
            try:
                path = self.model_file
                if path is None:
                    path = await asyncio.to_thread(
                        ensure_default_model, self.data_dir / "models", log=log.warning
                    )
                if not path.is_file():
                    raise LocalModelError(f"BOT_LOCAL_MODEL points at {path}, which is not a file")
                server = await self._start_or_attach(path, self.threads or usable_cpus())
            except LocalModelError as error:
                raise LLMUnavailable(f"the local model could not start: {error}") from error
            self._server = server
            client = openai.AsyncOpenAI(
                base_url=server.base_url,
                api_key="local",
                timeout=LOCAL_TIMEOUT_SECONDS,
                max_retries=0,
            )
            # llama.cpp's server takes a schema inside json_object, not json_schema.
            self._inner = OpenAICompatibleLLM(
                client, server.model_alias, capabilities=self.capabilities,
                max_output_tokens=self.max_output_tokens,
            )  # fmt: skip
            return self._inner

    async def _start_or_attach(self, path: Path, threads: int) -> LocalModelServer | AttachedServer:
        # No RAM prompt cache: saving it costs seconds per call here, and llama.cpp
        # still reuses the previous request's prefix (the article) for questions.
        if self.keep_alive <= 0:
            server = LocalModelServer(path, log=log.info, n_threads=threads, cache=False,
                                    env=self._cpu_env())  # fmt: skip
            await server.start()
            return server
        lease = Lease(self.data_dir / "local-model-server.json", self.keep_alive)
        config = {"model": str(path), "threads": threads, "bot": __version__}
        async with lease.locked():  # two commands at once start one server
            try:
                found = await AttachedServer.find(lease, config)
            except LeaseHeld as held:  # alive with other settings: left to whoever uses it
                log.info("%s; this command runs a server of its own", held)
                private = LocalModelServer(path, log=log.info, n_threads=threads, cache=False,
                                         env=self._cpu_env())  # fmt: skip
                await private.start()
                return private
            if found is not None:
                log.info("Using the local model server already running (pid %s)", found.pid)
                lease.renew()
                started: LocalModelServer | AttachedServer = found
            else:
                lease.write(pid=None, **config)  # the child waits for its pid to appear
                server = LocalModelServer(
                    path, log=log.info, n_threads=threads, cache=False, lease=lease,
                    env=self._cpu_env(),
                )  # fmt: skip
                await server.start()
                lease.write(pid=server.pid, port=server.port, model_alias=server.model_alias,
                            **config)  # fmt: skip
                started = server
        if self._renewing is None:
            self._renewing = asyncio.create_task(self._renew(lease))
        return started

    async def _renew(self, lease: Lease) -> None:
        """Hold the lease while this process is open, so the server outlives no one's use."""
        while True:
            lease.renew()
            await asyncio.sleep(min(5.0, self.keep_alive / 4))

    def _cpu_env(self) -> dict[str, str]:
        """The server child's environment: the CPU backends that crashed here are skipped, and
        it names the one it chose (so that a crash can be pinned on it)."""
        skipped = self.data_dir / _SKIPPED_BACKENDS
        names = skipped.read_text(encoding="utf-8").split() if skipped.is_file() else []
        return {**os.environ, SKIP_ENV: ",".join(names),
                CHOSEN_ENV: str(self.data_dir / _CHOSEN_BACKEND)}  # fmt: skip

    def _skip_crashed_backend(self, server: LocalModelServer | AttachedServer) -> None:
        """A server killed by an illegal instruction ran a CPU backend this machine cannot run
        (a VM may advertise AMX and trap it): that backend is skipped from now on."""
        if server.returncode != -signal.SIGILL:
            return
        with contextlib.suppress(OSError):
            chosen = (self.data_dir / _CHOSEN_BACKEND).read_text(encoding="utf-8").strip()
            if chosen:
                with (self.data_dir / _SKIPPED_BACKENDS).open("a", encoding="utf-8") as file:
                    file.write(chosen + "\n")
                log.warning("The CPU backend %r cannot run on this machine (illegal "
                            "instruction); the next server skips it", chosen)  # fmt: skip

    async def _discard_dead_server(self, server: LocalModelServer | AttachedServer) -> None:
        """Forget a server whose process has exited; the caller starts a fresh one."""
        await server.stop()  # closes its pipes and drains the rest of its output
        self._skip_crashed_backend(server)
        log.warning(
            "The local model server exited unexpectedly (code %s); starting a new one."
            " Its last output:\n%s",
            server.returncode,
            server.output_tail(),
        )
        if self._inner is not None:
            await self._inner.aclose()
        self._inner = self._server = None

    async def aclose(self) -> None:
        """Let go of the server: stop it, or with ``keep_alive`` leave it for the next one."""
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
            self._renewing = None
        if self._inner is not None:
            await self._inner.aclose()
        if self._server is not None and (self.keep_alive <= 0 or self._server.lease is None):
            await self._server.stop()  # not kept: no keep-alive, or a server of its own
        elif self._server is not None and self._server.lease is not None:
            self._server.lease.renew()  # keep_alive counts from now
        self._inner = self._server = None


def _sum(first: Usage | None, second: Usage | None) -> Usage | None:
    """Tokens of a failed call and of its retry, so the quota counts both."""
    if first is None or second is None:
        return first or second
    total = Usage()
    total.add(first)
    total.add(second)
    return total

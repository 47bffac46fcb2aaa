"""The embedded model as an ``LLM``: the same OpenAI-compatible path as every other backend.

llama.cpp's server is started on first use (not at import or start-up, so ``health`` and the
cache stay instant), on a free port of 127.0.0.1, and stopped by ``aclose``. Everything after
that is ``OpenAICompatibleLLM`` talking to it through the openai client.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import openai

from bot.core.llm import LLM, ChatMessage, Completion, LLMUnavailable, OpenAICompatibleLLM, T
from bot.core.local_model import (
    DEFAULT_MODEL,
    LocalModelError,
    LocalModelServer,
    ensure_default_model,
)

log = logging.getLogger(__name__)

# A small model on a CPU is slow: a long article's chunk can take minutes.
LOCAL_TIMEOUT_SECONDS = 900.0


class LocalLLM(LLM):
    small = True

    def __init__(
        self,
        data_dir: Path,
        model_file: Path | None,
        *,
        max_output_tokens: int,
        threads: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.model_file = model_file
        self.max_output_tokens = max_output_tokens
        self.threads = threads
        # The cache key names the weights, so a different GGUF never reuses old digests.
        self.model = f"local:{(model_file.name if model_file else DEFAULT_MODEL.file_name)}"
        self._lock = asyncio.Lock()
        self._server: LocalModelServer | None = None
        self._inner: OpenAICompatibleLLM | None = None

    @property
    def server(self) -> str:
        return self._inner.server if self._inner else "the embedded local model"

    async def structured(
        self, messages: list[ChatMessage], schema: type[T], *, max_tokens: int | None = None
    ) -> Completion[T]:
        inner = await self._started()
        return await inner.structured(messages, schema, max_tokens=max_tokens)

    async def _started(self) -> OpenAICompatibleLLM:
        async with self._lock:
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
                threads = self.threads or os.cpu_count() or 2
                # No RAM prompt cache: saving it costs seconds per call here, and llama.cpp
                # still reuses the previous request's prefix (the article) for questions.
                server = LocalModelServer(path, log=log.info, n_threads=threads, cache=False)
                await server.start()
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
                client, server.model_alias, mode="json_object",
                max_output_tokens=self.max_output_tokens,
            )  # fmt: skip
            return self._inner

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
        if self._server is not None:
            await self._server.stop()
        self._inner = self._server = None

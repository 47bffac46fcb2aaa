"""Set-up of llama-cpp-python inside the embedded server's child, before its server runs.

Two things llama-cpp-python 0.3.36 does not do by itself, each worth seconds per digest:

- **Runtime CPU dispatch.** A llama.cpp built with ``GGML_BACKEND_DL`` and
  ``GGML_CPU_ALL_VARIANTS`` (``scripts/install-local``) ships one CPU backend per instruction
  set next to libllama, loads none of them, and fails with "no backends are loaded". The
  best one this CPU runs is loaded (AVX-512 where there is AVX-512), so one wheel or image
  built anywhere still uses this CPU's fastest kernels; one that crashed here is skipped.
- **Grammar-last sampling.** llama-cpp-python puts the JSON grammar in the sampler chain, so
  every token checks all 151,936 vocabulary entries against the grammar: about 50 ms a token
  on 2 cores, as long as computing the token. llama.cpp's own tools sample first and consult
  the grammar only when the pick breaks it (``common_sampler_sample``); we do the same. With
  greedy decoding the tokens are the same, only sooner.

Only this module touches llama-cpp-python's internals, and only its pinned version's.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import importlib.util
import math
import os
import shutil
import sys
import tempfile
from typing import Any

__all__ = ["install", "load_cpu_backends", "sample_grammar_last", "skip_crashing_backends"]


def install(server_module: str) -> None:
    """Prepare llama-cpp-python in this process, the child about to run ``server_module``."""
    if not server_module.startswith("llama_cpp") or importlib.util.find_spec("llama_cpp") is None:
        return  # a test's stand-in server
    load_cpu_backends()
    sample_grammar_last()


# The parent names CPU backends that crashed on this machine (a VM can advertise an
# instruction set it does not run: AMX here killed the server with SIGILL), and a file where
# this child writes the one it chose, so a crash can be pinned on it.
SKIP_ENV = "BOT_GGML_CPU_SKIP"
CHOSEN_ENV = "BOT_GGML_CPU_CHOSEN"


def variant_of(path: str) -> str:
    """``libggml-cpu-zen4.so`` -> ``zen4``."""
    name = os.path.basename(path).split(".", 1)[0]
    return name.rsplit("ggml-cpu-", 1)[-1]


def load_cpu_backends(only: str | None = None) -> str | None:
    """Load one of ggml's per-CPU backends when the wheel has them; returns its name
    ("haswell"), else None.

    The best this CPU runs, by ggml's own score, unless the parent's ``BOT_GGML_CPU_SKIP``
    names it; ``only`` ("haswell") loads that one, which is how ``bench/embedded.py``
    compares them.
    """
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        return None
    lib = os.path.join(os.path.dirname(spec.origin), "lib")
    ggml = sorted(
        glob.glob(os.path.join(lib, "libggml.*")) + glob.glob(os.path.join(lib, "ggml.dll"))
    )
    variants = glob.glob(os.path.join(lib, f"*ggml-cpu-{only or '*'}.*"))
    if not ggml or not variants:
        return None  # a build with the CPU backend linked in: nothing to load
    # Loaded before llama_cpp itself, which then links to this same libggml and its registry.
    base = ctypes.CDLL(ggml[0])
    skip = set(filter(None, os.environ.get(SKIP_ENV, "").split(",")))
    chosen = _best([v for v in variants if variant_of(v) not in skip] or variants)
    folder = tempfile.mkdtemp(prefix="ggml-cpu-")  # ggml loads every backend of a folder
    os.symlink(chosen, os.path.join(folder, os.path.basename(chosen)))
    if report := os.environ.get(CHOSEN_ENV):
        with contextlib.suppress(OSError), open(report, "w", encoding="utf-8") as file:
            file.write(variant_of(chosen))
    loader = base.ggml_backend_load_all_from_path
    loader.argtypes = [ctypes.c_char_p]
    loader.restype = None
    try:
        loader(folder.encode())
    finally:  # a loaded library stays mapped: the folder is not needed once it is loaded
        shutil.rmtree(folder, ignore_errors=True)
    return variant_of(chosen)


_PROBE = """
import sys
from bot.core.models.llama_child import load_cpu_backends
load_cpu_backends()
import llama_cpp
llm = llama_cpp.Llama(sys.argv[1], n_ctx=256, n_threads=1, verbose=False)
llm.create_completion("The city will build a new bridge over the river. " * 6, max_tokens=1)
"""


def skip_crashing_backends(model_path: str) -> None:
    """For code that loads llama.cpp in its own process, where a crash cannot be retried: try
    the chosen CPU backend on a short prompt in a child first, and add each one killed by an
    illegal instruction to ``BOT_GGML_CPU_SKIP`` in this process's environment."""
    import signal
    import subprocess

    skip = [name for name in os.environ.get(SKIP_ENV, "").split(",") if name]
    with tempfile.TemporaryDirectory(prefix="ggml-probe-") as folder:
        chosen = os.path.join(folder, "chosen")
        for _ in range(32):  # at most one try per backend the wheel holds
            env = {**os.environ, SKIP_ENV: ",".join(skip), CHOSEN_ENV: chosen}
            probe = [sys.executable, "-c", _PROBE, model_path]
            done = subprocess.run(probe, env=env, capture_output=True, check=False)
            if done.returncode != -signal.SIGILL or not os.path.exists(chosen):
                break
            with open(chosen, encoding="utf-8") as file:
                skip.append(file.read().strip())
    os.environ[SKIP_ENV] = ",".join(skip)


def _best(variants: list[str]) -> str:
    """The variant ggml itself would pick: the highest ``ggml_backend_score`` (0: this CPU
    cannot run it), read from each library as ggml's own loader does."""

    def score(path: str) -> int:
        try:
            function = ctypes.CDLL(path).ggml_backend_score
        except (OSError, AttributeError):
            return 0
        function.restype = ctypes.c_int
        return int(function())

    scored = sorted(((score(v), v) for v in variants), reverse=True)
    return scored[0][1]


def sample_grammar_last() -> None:
    """Make ``Llama`` sample without the grammar and fall back to it only on a pick it forbids."""
    try:  # typed as Any: mypy sees llama-cpp-python only where the 'local' extra is installed
        internals: Any = importlib.import_module("llama_cpp._internals")
        llama: Any = importlib.import_module("llama_cpp.llama").Llama
    except ImportError as error:  # not the llama-cpp-python we pin: sample as it does
        print(f"llama_child: grammar-last sampling not installed: {error}", file=sys.stderr)
        return

    original: Any = llama._init_sampler
    if getattr(original, "_grammar_last", False):
        return

    def _init_sampler(self: Any, *args: Any, grammar: Any = None, **kwargs: Any) -> Any:
        chain = original(self, *args, grammar=None, **kwargs)
        if grammar is None:
            return chain
        only_grammar = internals.LlamaSampler()
        only_grammar.add_grammar(self._model, grammar)
        return GrammarLastSampler(chain, only_grammar, self._n_vocab)

    setattr(_init_sampler, "_grammar_last", True)  # noqa: B010 (a mark on a function)
    llama._init_sampler = _init_sampler


class GrammarLastSampler:
    """A sampler chain and a grammar; what ``Llama.sample`` calls ``.sample(ctx, idx)`` on."""

    def __init__(self, chain: Any, grammar: Any, n_vocab: int) -> None:
        import llama_cpp
        import numpy as np

        self._chain, self._grammar, self._n_vocab = chain, grammar, n_vocab
        self._buffer = (llama_cpp.llama_token_data * n_vocab)()
        self._view = np.ctypeslib.as_array(self._buffer)  # fields id, logit, p
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._one = (llama_cpp.llama_token_data * 1)()
        self.picks = self.fallbacks = 0  # tokens sampled; of those, how many needed the grammar

    def _candidates(self, ctx: Any, idx: int) -> Any:
        import llama_cpp
        import numpy as np

        logits = llama_cpp.llama_get_logits_ith(ctx.ctx, idx)
        self._view["id"] = self._ids
        self._view["logit"] = np.ctypeslib.as_array(logits, shape=(self._n_vocab,))
        self._view["p"] = 0.0
        return llama_cpp.llama_token_data_array(
            data=self._buffer, size=self._n_vocab, selected=-1, sorted=False
        )

    def sample(self, ctx: Any, idx: int) -> int:
        import llama_cpp

        candidates = self._candidates(ctx, idx)
        llama_cpp.llama_sampler_apply(self._chain.sampler, ctypes.byref(candidates))
        token = int(candidates.data[candidates.selected].id)
        self._one[0] = llama_cpp.llama_token_data(token, 1.0, 0.0)
        single = llama_cpp.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self._grammar.sampler, ctypes.byref(single))
        self.picks += 1
        if math.isinf(single.data[0].logit):  # the grammar forbids it: choose among what it allows
            self.fallbacks += 1
            candidates = self._candidates(ctx, idx)
            llama_cpp.llama_sampler_apply(self._grammar.sampler, ctypes.byref(candidates))
            llama_cpp.llama_sampler_apply(self._chain.sampler, ctypes.byref(candidates))
            token = int(candidates.data[candidates.selected].id)
        llama_cpp.llama_sampler_accept(self._grammar.sampler, token)
        llama_cpp.llama_sampler_accept(self._chain.sampler, token)
        return token

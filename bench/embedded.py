"""The embedded model as a new user gets it: ``digestbot digest``, then ``digestbot ask``.

    python bench/embedded.py [--long] [--backends haswell,zen4]

Each step is a fresh ``digestbot`` process, with a fresh data folder (so nothing is cached)
and no API key, timed end to end: the model server's start, the digest, the exit. Then a
follow-up from a new process, which finds the server the digest left running
(``BOT_LOCAL_KEEP_ALIVE``) with the article already read. ``--long`` adds the corpus's
7,400-token conference article. The server is stopped at the end. ``--backends`` compares
llama.cpp's per-CPU backends on the seed article (tokens a second reading it and writing),
each in a process of its own that loads only that one (haswell: what a portable AVX2 build
runs). Run it on a quiet machine: these are CPU-bound minutes, and a second job beside them
doubles them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.models.gguf import ensure_default_model  # noqa: E402
from bot.core.models.llama_server import llama_cpp_available  # noqa: E402
from bot.core.settings import Settings  # noqa: E402

DATA = ROOT / "tests" / "data"
DIGESTBOT = Path(sys.executable).with_name("digestbot")
ARTICLES = {
    "seed": ("zhaoqing-die-casting-summit", "Who is the mayor of Zhaoqing?"),
    "long": ("hunan-manufacturing-conference-long", None),
}


def _run(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(
        [str(DIGESTBOT), *args], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"digestbot {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, done.stdout


def _cpu_backend(data_dir: Path) -> str:
    log = (data_dir / "local-model-server.log").read_text(errors="replace")
    found = re.findall(r"loaded CPU backend from \S*libggml-cpu-([\w.]+)\.so", log)
    return found[-1] if found else "built in (no runtime dispatch)"


def backend_speed(model: Path, variant: str) -> str:
    """Tokens a second reading the seed article and writing, with one CPU backend alone, in
    a process of its own (the backends a process loads stay loaded)."""
    script = f"""
import os, time
from bot.core.models.llama_child import load_cpu_backends
if load_cpu_backends(only={variant!r}) is None:
    raise SystemExit("no CPU backend {variant} in this build")
from llama_cpp import Llama
llm = Llama(model_path={str(model)!r}, n_ctx=4096, n_threads=os.cpu_count(), verbose=False)
prompt = llm.tokenize(open({str(DATA / "zhaoqing-die-casting-summit.txt")!r}, "rb").read())
started = time.perf_counter()
llm.eval(prompt)
read = len(prompt) / (time.perf_counter() - started)
started = time.perf_counter()
for _ in range(64):
    llm.eval([llm.sample(temp=0.0)])
write = 64 / (time.perf_counter() - started)
print(f"{{len(prompt)}} {{read:.1f}} {{write:.1f}}")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return f"could not run: {done.stderr.strip().splitlines()[-1:]}"
    tokens, read, write = done.stdout.split()
    return f"reads {read} tokens/s ({tokens}-token prompt), writes {write} tokens/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long", action="store_true", help="also the 7,400-token article")
    parser.add_argument("--backends", default="", help="comma-separated CPU backends to compare")
    args = parser.parse_args()
    if not llama_cpp_available():
        raise SystemExit("needs the embedded model: scripts/install-local")
    models = Settings(_env_file=None).data_dir / "models"
    model = ensure_default_model(models, log=print)
    names = ["seed", "long"] if args.long else ["seed"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BOT_"))}
        env.update(BOT_DATA_DIR=str(data_dir), BOT_LOCAL_MODEL=str(model))
        try:
            for name in names:
                slug, question = ARTICLES[name]
                article = str(DATA / f"{slug}.txt")
                seconds, out = _run(env, "digest", article, "--json")
                stats = json.loads(out)["stats"]
                rows.append(
                    (f"{name} digest ({slug})", seconds,
                     f"{stats['llm_calls']} calls, {stats['prompt_tokens']} prompt and "
                     f"{stats['completion_tokens']} output tokens")
                )  # fmt: skip
                if question:
                    seconds, out = _run(env, "ask", article, question, "--json")
                    answer = json.loads(out)
                    rows.append(
                        (f"{name} follow-up, a new process", seconds,
                         f"{answer['answer']!r}, {answer['stats']['prompt_tokens']} prompt tokens")
                    )  # fmt: skip
            backend = _cpu_backend(data_dir)
        finally:
            (data_dir / "local-model-server.json").unlink(missing_ok=True)  # stops the server
    print(f"\nEmbedded model, CPU backend: {backend}, {os.cpu_count()} CPUs\n")
    print("| step | seconds (wall, whole command) | what |\n| --- | --- | --- |")
    for step, seconds, what in rows:
        print(f"| {step} | {seconds:.1f} | {what} |")
    for variant in filter(None, args.backends.split(",")):
        print(f"\nCPU backend {variant}: {backend_speed(model, variant)}")


if __name__ == "__main__":
    main()

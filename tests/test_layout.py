"""The house's rules, kept by a test: rooms stay small, and dependencies point inward.

- No module over 500 lines and no class over 25 methods: one idea per module and per class.
- The edges (the CLI, the Telegram adapter) import from the core only its front door, the
  settings, the schemas and the errors; the application layer (``bot.app``) and the core never
  import an edge, and neither imports ``telegram``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bot"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 500
MAX_METHODS = 25
FRONT_DOOR = {"bot.core.service", "bot.core.settings", "bot.core.schemas", "bot.core.errors"}
# The evaluation is a dev tool beside the CLI: it scores with the reading room's own
# normalisation, so a score and the grounding it measures can never disagree on a string.
SCORING = {"bot.cli.evaluation": {"bot.core.reading.grounding", "bot.core.reading.matching"}}


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_is_over_the_line_limit(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{_name(path)} has {lines} lines: split it by idea"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_class_has_too_many_methods(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            methods = [
                n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            assert len(methods) <= MAX_METHODS, f"{node.name} has {len(methods)} methods"


@pytest.mark.parametrize(
    "path", [p for p in MODULES if _name(p).startswith(("bot.cli", "bot.telegram_app"))], ids=_name
)
def test_the_edges_use_only_the_front_door_of_the_core(path: Path) -> None:
    allowed = FRONT_DOOR | SCORING.get(_name(path), set())
    reached = {m for m in _imports(path) if m.startswith("bot.core")}
    assert reached <= allowed, f"{_name(path)} reaches past the front door: {reached - allowed}"


@pytest.mark.parametrize(
    "path", [p for p in MODULES if _name(p).startswith(("bot.core", "bot.app"))], ids=_name
)
def test_the_core_and_the_application_know_no_edge(path: Path) -> None:
    edges = ("bot.cli", "bot.telegram_app", "telegram")
    reached = {m for m in _imports(path) if m.startswith(edges)}
    assert not reached, f"{_name(path)} imports an edge: {reached}"
    if _name(path).startswith("bot.core"):
        assert not {m for m in _imports(path) if m.startswith("bot.app")}


def test_the_rules_can_fail() -> None:
    """The checks above see what they are meant to see (a test that cannot fail keeps nothing)."""
    assert any(_name(p) == "bot.core.service" for p in MODULES)
    assert "bot.core.service" in _imports(PACKAGE / "cli" / "main.py")
    tree = ast.parse("class A:\n" + "".join(f"    def m{i}(self): ...\n" for i in range(26)))
    cls = tree.body[0]
    assert isinstance(cls, ast.ClassDef) and len(cls.body) == 26

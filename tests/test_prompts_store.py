"""Prompt files validate loudly; the store migrates itself and keeps scopes apart."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from bot.core.errors import PromptError
from bot.core.prompts import PromptLibrary, default_prompts_dir
from bot.core.reading.digest import not_latin_script, system_message
from bot.core.schemas import Answer
from bot.core.storage.store import CORE_MIGRATIONS, Store


def test_shipped_prompts_load() -> None:
    library = PromptLibrary()
    expected = {"system", "system_script", "article", "digest", "digest_small", "extract_chunk",
                "extract_small", "summarize", "answer", "answer_context", "ask_across"}  # fmt: skip
    assert expected == set(library._prompts)
    assert len(library.version) == 12
    assert default_prompts_dir().is_dir()


def test_no_foreign_script_example_for_a_latin_article() -> None:
    # Shown "周启航 stays 周启航", the 1.5B model listed Chinese names for an English article.
    library = PromptLibrary().with_values(language="English")
    english = system_message(library, "[1] Mayor Xu Xiaoxiong spoke. [2] Dr. Ada Obi agreed.")
    assert not re.search(r"[\u3400-\u9fff]", english["content"])
    chinese = system_message(library, "[1] 市委书记周启航出席并讲话。[2] Mayor Lin spoke.")
    assert "韦思远 stays 韦思远" in chinese["content"]
    assert english["content"] in chinese["content"]  # the same rules, one more
    assert not_latin_script("Привет, мир. Мэр выступил.")
    assert not not_latin_script("Jörg Altenhöfer, Nguyễn Văn An and Zoë spoke in Zürich.")


def test_missing_variable_is_named() -> None:
    with pytest.raises(PromptError, match=r"needs variable.*article"):
        PromptLibrary().render("article")
    with pytest.raises(PromptError, match=r"has no variable.*artcle"):
        PromptLibrary().render("article", article="x", artcle="y")


def test_bad_prompt_files_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text('description = "d"\nvariables = []\ntemplate = "${x}"\n')
    with pytest.raises(PromptError, match="undeclared variable"):
        PromptLibrary(tmp_path)
    (tmp_path / "p.toml").write_text('description = "d"\nvariables = ["y"]\ntemplate = "hi"\n')
    with pytest.raises(PromptError, match="unused variable"):
        PromptLibrary(tmp_path)
    (tmp_path / "p.toml").write_text('template = "hi"\n')
    with pytest.raises(PromptError, match="invalid prompt file"):
        PromptLibrary(tmp_path)


def test_prompt_version_follows_content(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text('description = "d"\nvariables = []\ntemplate = "a"\n')
    first = PromptLibrary(tmp_path).version
    (tmp_path / "p.toml").write_text('description = "d"\nvariables = []\ntemplate = "b"\n')
    assert PromptLibrary(tmp_path).version != first


def test_store_migrates_once_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = Store.open(path)
    article = store.save_article("chat:1", "Some text.", "Title")
    store.save_exchange(article.id, "Q?", Answer(answer="A.", quotes=[], stated=False))
    store.record_usage("u", "answer", 1, 10, 5)
    store.close()
    again = Store.open(path)
    assert again.schema_version() == len(CORE_MIGRATIONS)
    assert again.article(article.id, "chat:1") == article
    assert again.article(article.id, "chat:2") is None  # another chat never sees it
    assert again.exchanges(article.id)[0].answer.answer == "A."
    assert again.tokens_used("u") == 15
    assert again.save_article("chat:1", "Some text.", "Title").id == article.id


def test_store_transaction_rolls_back(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.sqlite3")
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store.execute("INSERT INTO usage VALUES (1, 'u', 'd', 'k', 1, 1, 1, 'now')")
        store.execute("INSERT INTO usage VALUES (1, 'u', 'd', 'k', 1, 1, 1, 'now')")
    assert store.tokens_used("u", "d") == 0


def test_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    from bot.core.errors import StoreError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the store"):
        Store.open(blocker / "sub" / "s.sqlite3")

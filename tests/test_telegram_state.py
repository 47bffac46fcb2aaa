"""The Telegram edge's tables migrate in place and keep fragments and jobs across restarts."""

from __future__ import annotations

from pathlib import Path

from bot.core.store import Store
from bot.telegram_app.state import TELEGRAM_MIGRATIONS, TelegramState


def test_old_database_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    old = Store.open(path)
    old.migrate("telegram", TELEGRAM_MIGRATIONS[:1])  # a database from the first release
    old.execute(
        "INSERT INTO tg_fragments (chat_id, user_id, message_id, text) VALUES (1, 2, 3, 'x')"
    )
    old.close()
    state = TelegramState(Store.open(path))
    assert state.store.schema_version("telegram") == len(TELEGRAM_MIGRATIONS)
    assert [(f.text, f.forwarded) for f in state.fragments(1, 2)] == [("x", False)]


def test_fragments_and_jobs_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    state = TelegramState(Store.open(path))
    state.add_fragment(7, 8, 1, "first", forwarded=True)
    state.add_fragment(7, 8, 2, "second")
    article = state.store.save_article("chat:7", "Some text.", "T")
    state.store.close()

    again = TelegramState(Store.open(path))
    assert again.pending_pastes() == [(7, 8)]
    job = again.create_job(7, 8, article.id, reply_to=1, fragments_up_to=2)
    assert again.fragments(7, 8) == []  # consumed together with the job's creation
    assert [j.id for j in again.pending_jobs()] == [job.id]
    again.finish_job(job.id, "done")
    assert again.pending_jobs() == []
    assert again.first_sight(100) and not again.first_sight(100)


def test_the_edge_state_on_both_backends(store: Store) -> None:
    """The same edge state on SQLite and PostgreSQL (store fixture: both)."""
    state = TelegramState(store)
    chat = -1001234567890  # a supergroup id: beyond 32 bits
    assert state.first_sight(5) and not state.first_sight(5)
    assert state.prune_updates(days=0) >= 0
    state.add_fragment(chat, 8, 1, "first", forwarded=True, origin='{"type": "channel"}')
    state.add_fragment(chat, 8, 1, "again")  # a redelivery is ignored
    state.add_fragment(chat, 8, 2, "second")
    assert state.replace_fragment(chat, 8, 2, "second, edited")
    assert [f.text for f in state.fragments(chat, 8)] == ["first", "second, edited"]
    article = store.save_article(f"chat:{chat}", "Some text.", "T")
    job = state.create_job(chat, 8, article.id, reply_to=1, fragments_up_to=2)
    assert state.fragments(chat, 8) == [] and [j.id for j in state.pending_jobs()] == [job.id]
    state.link_messages(chat, [1, 2, 3], article.id)
    state.link_messages(chat, [3], article.id)
    assert state.article_of_message(chat, 3) == article.id
    state.set_current_article(chat, article.id)
    state.set_current_article(chat, article.id)
    assert state.current_article(chat) == article.id
    state.finish_job(job.id, "done")
    assert state.pending_jobs() == [] and state.job_status(job.id) == "done"
    state.forget_chat(chat)
    assert state.current_article(chat) is None

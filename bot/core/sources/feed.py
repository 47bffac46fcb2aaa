"""Read an RSS or Atom feed as a server must: through the fetch guard, parsed in a bounded child.

- ``await read_feed(url, settings)``: the feed's title and items (newest first, as the feed
  lists them), or a ``SourceError`` whose message is one line for the user.
- ``new_items(feed, seen_ids, limit)``: the items not seen yet, oldest first, at most ``limit``.

The bytes come through ``fetch`` itself (every hop's address checked where the socket opens,
the byte cap, the time limit), asked for a feed's media types and with lines of its own that
name the feed by its host (``fetch``'s speak of pages and articles). ``fetch`` is imported when
a feed is read, so the parsing child never loads the HTTP client. feedparser never sees a
URL: it is handed the bytes in a ``BytesIO`` (a string that looks like a URL or a path would
make it fetch or open one), the feed's address only as the base for relative links, and its
SAX parser runs with external entities off. A feed declaring entities that expand into others,
load a file or are parameter entities is refused before parsing (feedparser drops most such
declarations itself, and expat caps expansion, but not before seconds and megabytes are
spent). A parser fed strangers'
bytes can still take minutes and a gigabyte (10 MB of ``<a `` does), so, as with documents
(``worker``), the parse runs in a fresh process with a memory and CPU limit, killed at
``FEED_READ_SECONDS``: ``python -P -m bot.core.sources.feed``, stdin a JSON header line and the
bytes, stdout one JSON answer.
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import html
import io
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from bot.core.errors import SourceError

if TYPE_CHECKING:
    import httpx

    from bot.core.settings import Settings
    from bot.core.sources.fetch import Wanted

log = logging.getLogger(__name__)

MAX_ITEMS = 200  # items kept from one read: the first ones, which feeds list newest first
MAX_ENTRIES = 1000  # a document holding more is refused unparsed: no news feed needs it
MAX_SUMMARY_CHARS = 2000
MAX_TITLE_CHARS = 300
MAX_ID_CHARS = 200  # a longer guid is kept as its hash, so a store's key stays short
FEED_READ_SECONDS = 10.0  # wall time for one parse, the interpreter's start included
FEED_READ_MEMORY_BYTES = 300 * 1024 * 1024
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
# Served as-is or mislabelled by many sites; what is in it is left to the parser to say.
_TEXT_TYPES = frozenset({"text/html", "text/plain", "application/octet-stream", ""})
_ENTRY_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]")
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY([^>]*)>")
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class FeedItem:
    """One item of a feed: ``id`` is stable across reads (the guid, else the link; hashed
    when longer than ``MAX_ID_CHARS``), ``link`` an absolute http(s) address still to be fetched
    (with ``fetch_link``), ``published`` ISO 8601 with the feed's own offset when it gives a
    date, ``summary`` plain text."""

    id: str
    link: str
    title: str | None
    published: str | None
    summary: str | None


@dataclass(frozen=True)
class Feed:
    """A feed as read: ``url`` after redirects, its items in the feed's order (at most
    ``MAX_ITEMS``, each id once), and how many items were ``skipped`` (no http(s) link)."""

    url: str
    title: str | None
    items: tuple[FeedItem, ...]
    skipped: int = 0


def new_items(feed: Feed, seen_ids: Iterable[str], limit: int) -> list[FeedItem]:
    """The items whose ids are not in ``seen_ids``, oldest first, at most ``limit``.

    Oldest first so a capped poll delivers the backlog in order and the rest waits for the
    next one. By date when every new item has one; else in the reverse of the feed's order
    (feeds list the newest first)."""
    seen = set(seen_ids)
    fresh = [item for item in reversed(feed.items) if item.id not in seen]
    if fresh and all(item.published for item in fresh):
        fresh.sort(key=lambda item: _instant(item.published))
    return fresh[: max(0, limit)]


def _instant(published: str | None) -> datetime:
    moment = datetime.fromisoformat(published or "1970-01-01T00:00:00+00:00")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- fetching --------------------------------------------------------------------------------


async def read_feed(url: str, settings: Settings) -> Feed:
    """The feed at ``url``, fetched through the guard and parsed in a bounded child process;
    any refusal is a SourceError with one line for the user, naming the feed by its host."""
    from bot.core.sources.fetch import check_url, fetch

    parsed = check_url(_without_feed_scheme(url.strip()))
    fetched = await fetch(
        str(parsed),
        allow_private=settings.fetch_allow_private,
        max_bytes=settings.fetch_max_bytes,
        time_limit=settings.fetch_timeout,
        wanted=_feed_wanted(),
    )
    host = parsed.host
    _precheck(fetched.body, host)  # the cheap refusals, without starting a process
    return await _parse_in_child(
        fetched.body, url=fetched.url, content_type=fetched.content_type, host=host
    )


def _without_feed_scheme(url: str) -> str:
    """``feed://host/rss`` and ``feed:https://host/rss``, as browsers hand them over."""
    if url[:5].lower() != "feed:":
        return url
    rest = url[5:]
    return rest if rest[:5].lower() in ("http:", "https") else "http:" + rest


def _takes(media_type: str, url: httpx.URL) -> bool:
    """Anything XML, or what sites mislabel feeds as; not images, PDFs or video."""
    return media_type in _TEXT_TYPES or media_type.endswith(("/xml", "+xml"))


def _feed_wanted() -> Wanted:
    """``fetch``'s request for a feed: its media types, and lines that name the feed by its
    host (``fetch``'s own speak of pages and articles)."""
    from bot.core.sources.fetch import Lines, Wanted

    feed = "The feed at {host}"
    lines = Lines(
        timeout=feed + " did not load within {seconds:g} s; try again later.",
        unverified="The secure connection to {host} could not be verified; check the feed's "
        "address.",
        unreachable="Could not connect to {host}; try again later.",
        broken_off="The connection to {host} broke off; try again later.",
        bad_redirect=feed + " redirects to an invalid address.",
        status=feed + " answered {status}; check its address.",
        media_type="The address at {host} serves {media_type}, not an RSS or Atom feed.",
        too_large=feed + " is larger than {size}, far more than a news feed; I can't follow it.",
        compression=feed + " came in a compression I can't read.",
        corrupt=feed + " came in a compression I can't read.",
        redirects=feed + " redirects more than {redirects} times; send its final address.",
        redirect_private=feed + " redirects to a private or local address; only public feeds "
        "can be read.",
        redirect_unreachable=feed + " redirects to a site that cannot be reached.",
    )
    return Wanted(ACCEPT, _takes, lines)


# --- the child process -----------------------------------------------------------------------


async def _parse_in_child(body: bytes, *, url: str, content_type: str, host: str) -> Feed:
    """``parse_feed`` in a fresh process with a memory and CPU limit, killed at the time
    limit or when the caller is cancelled; it shares ``worker``'s limit on reads at once."""
    import asyncio

    from bot.core.sources import worker

    header = {
        "url": url,
        "content_type": content_type,
        "host": host,
        "seconds": FEED_READ_SECONDS,
        "memory": FEED_READ_MEMORY_BYTES,
    }
    payload = json.dumps(header).encode() + b"\n" + body
    env = dict(os.environ)
    # -P keeps the working folder off sys.path; the child imports the parent's own copy.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (worker._ROOT, env.get("PYTHONPATH")) if p)
    async with worker._slot():
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-P", "-m", "bot.core.sources.feed",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL, env=env,
            )  # fmt: skip
        except OSError as error:
            log.warning("could not start a feed reader process: %s", error)
            raise SourceError("I can't read feeds right now; try again in a minute.") from None
        status: int | None
        try:
            async with asyncio.timeout(FEED_READ_SECONDS):
                output, _ = await process.communicate(payload)
            status = process.returncode
        except TimeoutError:
            output, status = b"", None
        finally:
            if process.returncode is None:  # timed out or cancelled: stop it, and reap it
                process.kill()
                await process.wait()
    return _answer(output, status, host)


def _answer(output: bytes, status: int | None, host: str) -> Feed:
    if status is None or status == -signal.SIGXCPU:
        raise SourceError(
            f"Reading the feed at {host} took longer than {FEED_READ_SECONDS:g} s; it is not a "
            "feed I can follow."
        )
    try:
        answer: dict[str, Any] = json.loads(output)
    except ValueError:
        answer = {}
    if "feed" in answer:
        return _feed_from(answer["feed"])
    if "failure" in answer:  # the type only: the message may quote the feed
        log.warning("a feed reader failed unexpectedly: %s", answer["failure"])
    if "error" in answer:
        raise SourceError(str(answer["error"]))
    log.warning("a feed reader process ended without an answer (status %s)", status)
    if status == -signal.SIGKILL:  # the kernel's OOM killer, or the address-space limit
        raise SourceError(f"The feed at {host} needs more memory to read than I allow.")
    raise SourceError(f"The feed at {host} could not be read.")


def _feed_from(fields: Mapping[str, Any]) -> Feed:
    return Feed(
        url=fields["url"],
        title=fields["title"],
        items=tuple(FeedItem(**item) for item in fields["items"]),
        skipped=fields["skipped"],
    )


def _child(raw: bytes) -> dict[str, Any]:
    """The answer for one request; runs in the child, within its limits."""
    line, _, body = raw.partition(b"\n")
    header = json.loads(line)
    del raw
    import feedparser  # noqa: F401 (imported before the limits: not the feed's doing)

    from bot.core.sources.sandbox import limit

    with contextlib.suppress(OSError, ValueError):
        limit(int(header["memory"]), float(header["seconds"]))
    try:
        feed = parse_feed(
            body, url=header["url"], content_type=header["content_type"], host=header["host"]
        )
    except SourceError as error:
        return {"error": str(error)}
    except (MemoryError, RecursionError):
        return {"error": f"The feed at {header['host']} needs more memory to read than I allow."}
    except Exception as error:  # the last line: feedparser is third-party code
        return {
            "error": f"The feed at {header['host']} could not be read.",
            "failure": type(error).__name__,
        }
    return {"feed": asdict(feed)}


def main() -> None:
    answer = _child(sys.stdin.buffer.read())
    sys.stdout.buffer.write(json.dumps(answer, ensure_ascii=False).encode("utf-8", "replace"))
    sys.stdout.buffer.flush()


# --- parsing ---------------------------------------------------------------------------------


def parse_feed(body: bytes, *, url: str, content_type: str = "", host: str | None = None) -> Feed:
    """The feed in ``body`` (fetched from ``url``), parsed here, in this process.

    Unbounded in time and memory on hostile bytes: the bot calls it only in the child
    (``read_feed``); it is public for tests and for bytes already trusted."""
    import feedparser

    host = host or urlsplit(url).hostname or "that address"
    _precheck(body, host)
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    result = feedparser.parse(io.BytesIO(body), response_headers=headers)
    entries = list(result.get("entries") or [])
    version = result.get("version") or ""
    if not version and not entries:
        raise SourceError(
            f"The page at {host} is not an RSS or Atom feed; send the feed's own address "
            "(it often ends in /feed, /rss or .xml)."
        )
    if result.get("bozo") and not entries:
        error = result.get("bozo_exception")
        if error is not None and not isinstance(error, feedparser.CharacterEncodingOverride):
            raise SourceError(f"The feed at {host} is broken: I could not read any item in it.")
    items, skipped, ids = [], 0, set()
    for entry in entries:
        item = _item(entry, url)
        if item is None:
            skipped += 1
        elif item.id not in ids:
            ids.add(item.id)
            items.append(item)
        if len(items) == MAX_ITEMS:
            break
    if entries and not items:
        if result.get("bozo"):
            raise SourceError(f"The feed at {host} is broken: I could not read any item in it.")
        raise SourceError(
            f"No item in the feed at {host} links to an article, so there is nothing to digest."
        )
    title = _clip(_text(result.get("feed", {}).get("title")), MAX_TITLE_CHARS)
    return Feed(url=url, title=title, items=tuple(items), skipped=skipped)


def _precheck(body: bytes, host: str) -> None:
    """Refuse, before parsing, what would cost the parser most: a huge number of items, and
    entities that expand into others, parameter entities and external ones. (feedparser drops
    most declarations and expat caps expansion, but a declaration feedparser misses still
    costs seconds and megabytes before expat stops it; no news feed needs one.)"""
    if _count_entries(body, MAX_ENTRIES + 1) > MAX_ENTRIES:
        raise SourceError(
            f"The feed at {host} lists more than {MAX_ENTRIES} items, far more than a news "
            "feed; I can't follow it."
        )
    start = _FIRST_ELEMENT.search(body)
    prolog = body[: start.start() if start else len(body)]
    for declaration in _ENTITY_DECLARATION.findall(prolog):
        if re.search(rb"[&%]|\bSYSTEM\b|\bPUBLIC\b", declaration):
            raise SourceError(
                f"The feed at {host} declares XML entities that expand or load other files; "
                "I don't read those."
            )


def _count_entries(body: bytes, stop: int) -> int:
    count = 0
    for _ in _ENTRY_TAG.finditer(body):
        count += 1
        if count >= stop:
            break
    return count


def _item(entry: Mapping[str, Any], base: str) -> FeedItem | None:
    link = _link(entry, base)
    if link is None:
        return None
    title = _clip(_text(entry.get("title")), MAX_TITLE_CHARS)
    published = _published(entry)
    guid = entry.get("id")
    key = guid.strip() if isinstance(guid, str) and guid.strip() else link
    if len(key) > MAX_ID_CHARS:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    summary = _clip(_text(entry.get("summary")), MAX_SUMMARY_CHARS)
    return FeedItem(id=key, link=link, title=title, published=published, summary=summary)


def _clip(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def _link(entry: Mapping[str, Any], base: str) -> str | None:
    """The item's article address, made absolute against the feed's; http(s) only."""
    candidates = [entry.get("link")]
    candidates += [
        link.get("href")
        for link in entry.get("links") or []
        if isinstance(link, Mapping) and link.get("rel", "alternate") == "alternate"
    ]
    if entry.get("guidislink"):
        candidates.append(entry.get("id"))
    for candidate in candidates:
        if not isinstance(candidate, str) or not candidate.strip():
            continue
        absolute = urljoin(base, candidate.strip())
        parts = urlsplit(absolute)
        if parts.scheme in ("http", "https") and parts.hostname:
            return absolute
    return None


def _published(entry: Mapping[str, Any]) -> str | None:
    """ISO 8601, keeping the offset the feed wrote (its local date is the release's date)."""
    for raw_key, parsed_key in (("published", "published_parsed"), ("updated", "updated_parsed")):
        raw = entry.get(raw_key)
        if isinstance(raw, str) and raw.strip():
            moment = _parse_date(raw.strip())
            if moment is not None:
                return moment.isoformat()
        parsed = entry.get(parsed_key)
        if parsed:
            with contextlib.suppress(TypeError, ValueError, OverflowError):
                return datetime.fromtimestamp(calendar.timegm(parsed), UTC).isoformat()
    return None


def _parse_date(raw: str) -> datetime | None:
    with contextlib.suppress(TypeError, ValueError, IndexError):
        moment = parsedate_to_datetime(raw)  # RSS: RFC 822
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    with contextlib.suppress(ValueError):
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))  # Atom: RFC 3339
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _text(value: object) -> str | None:
    """Plain text of a feed field (feedparser hands back sanitized HTML)."""
    if not isinstance(value, str):
        return None
    text = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", value))).strip()
    return text or None


if __name__ == "__main__":
    main()

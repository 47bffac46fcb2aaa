"""A small, honest fake of the Telegram Bot API for tests (standard library only).

It speaks the real wire protocol on 127.0.0.1, so the real python-telegram-bot can talk to it:

    with FakeTelegramServer() as server:
        bot = telegram.Bot(server.token, base_url=server.base_url,
                           base_file_url=server.base_file_url)

Every request runs on its own thread, so a long-polling ``getUpdates`` blocks only itself.
Parameters are read from urlencoded, multipart/form-data or JSON bodies; form values are
JSON-decoded except for string parameters such as ``text`` (that is how PTB encodes them).
``parse_mode="HTML"`` is checked the way Telegram's parser (tdlib) does, with its error texts,
plus one deliberate difference: a bare ``&`` that starts no entity is rejected, as the Bot API
docs demand ``&amp;``, while real Telegram keeps it literally (``strict_ampersand=False``).
Markdown parse modes are accepted unchecked. Message ids are per chat and shared by the
user's and the bot's messages; text is trimmed and limits are counted after entity parsing.

Updates are fetched with ``getUpdates``, or, once a webhook is set and ``push_webhooks`` names
where the bot listens (the public URL is not reachable from a test), POSTed there one at a
time in order with the ``X-Telegram-Bot-Api-Secret-Token`` header, and retried until a 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

JSON = dict[str, Any]
BOT_USER: JSON = {
    "id": 999, "is_bot": True, "first_name": "DigestBot", "username": "digest_test_bot",
    "can_join_groups": True, "can_read_all_group_messages": False,
    "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False,
}  # fmt: skip
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
# PTB sends these as plain form strings; every other form value is JSON-encoded.
STRING_PARAMS = {"text", "caption", "parse_mode", "callback_query_id", "action", "url",
                 "language_code", "secret_token", "inline_message_id", "document",
                "description"}  # fmt: skip
CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice",
                "upload_voice", "upload_document", "choose_sticker", "find_location",
                "record_video_note", "upload_video_note"}  # fmt: skip
TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
        "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
        "del": "strikethrough", "span": "spoiler", "tg-spoiler": "spoiler", "a": "text_link",
        "code": "code", "pre": "pre", "blockquote": "blockquote"}  # fmt: skip
_ENTITY = re.compile(r"&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,8})|(lt|gt|amp|quot)\b);?")
_START, _END = re.compile(r"<([^\s>]*)"), re.compile(r"</([^\s>]*)\s*(>?)")
_ATTR = re.compile(r"""\s*([^\s=>]*)\s*(=\s*("[^"]*"|'[^']*'|[A-Za-z0-9.\-]*))?""")


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


def bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _u16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _entity_char(m: re.Match[str] | None) -> str | None:
    if m is None:
        return None
    if m[3]:
        return {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}[m[3]]
    code = int(m[1]) if m[1] else int(m[2], 16)
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else None


def parse_html(src: str, strict_ampersand: bool = True) -> tuple[str, list[JSON]]:
    """Return (plain text, entities) for Telegram-HTML ``src`` or raise a 400 ApiError."""
    out: list[str] = []
    ents: list[JSON] = []
    stack: list[tuple[str, JSON, int]] = []  # (tag, entity, utf-16 start)
    u16, i, n = 0, 0, len(src)

    def fail(msg: str, at: int | None = None) -> ApiError:
        where = "" if at is None else f" at byte offset {len(src[:at].encode())}"
        return bad(f"can't parse entities: {msg}{where}")

    while i < n:
        k = min((j for j in (src.find("&", i), src.find("<", i)) if j >= 0), default=n)
        out.append(src[i:k])
        u16, i = u16 + _u16(src[i:k]), k
        if i >= n:
            break
        if src[i] == "&":
            m = _ENTITY.match(src, i)
            ch = _entity_char(m)
            if ch is None and strict_ampersand:
                raise fail("Unescaped '&' (this fake is stricter than Telegram; use &amp;)", i)
            out.append(ch or "&")
            u16, i = u16 + _u16(ch or "&"), (m.end() if ch and m else i + 1)
        elif src.startswith("</", i):
            m = _END.match(src, i)
            assert m is not None
            if not stack:
                raise fail("Unexpected end tag", i)
            if not m[2]:
                raise fail("Unclosed end tag", i)
            tag, closed, start = stack.pop()
            if m[1] and m[1].lower() != tag:
                where = f"Unmatched end tag at byte offset {len(src[:i].encode())}"
                raise fail(f'{where}, expected "</{tag}>", found "</{m[1].lower()}>"')
            if closed and u16 > start:
                ents.append({**closed, "offset": start, "length": u16 - start})
            i = m.end()
        else:
            begin, m = i, _START.match(src, i)
            assert m is not None
            tag, i = m[1].lower(), m.end()
            if i >= n:
                raise fail("Unclosed start tag", begin)
            if tag not in TAGS:
                raise fail(f'Unsupported start tag "{tag}"', begin)
            attrs: dict[str, str] = {}
            while (a := _ATTR.match(src, i)) and a[1]:
                i, value = a.end(), a[3]
                if value is None and i >= n:
                    raise fail(f'Unclosed start tag "{tag}"', begin)
                if value is None and not (tag == "blockquote" and a[1].lower() == "expandable"):
                    msg = f'Expected equal sign in declaration of an attribute of the tag "{tag}"'
                    raise fail(msg, begin)
                quoted = bool(value) and value[0] in "\"'"
                if value is not None and not quoted and i < n and src[i] not in " \t\r\n>":
                    if not value and src[i] in "\"'":  # an unterminated quoted value
                        raise fail("Unclosed start tag", begin)
                    raise fail("Unexpected end of name token", i)
                value = value[1:-1] if quoted else value or ""
                attrs[a[1].lower()] = _ENTITY.sub(lambda e: _entity_char(e) or e[0], value)
            i = a.end(1) if a else i
            if i >= n:
                raise fail(f'Unclosed start tag "{tag}"', begin)
            if src[i] != ">":
                raise fail(f'Empty attribute name in the tag "{tag}"', begin)
            if tag == "span" and attrs.get("class") != "tg-spoiler":
                raise fail('Tag "span" must have class "tg-spoiler"', begin)
            ent: JSON = {"type": TAGS[tag]}
            if tag == "a":
                ent = {"type": "text_link", "url": attrs["href"]} if attrs.get("href") else {}
            elif tag == "blockquote" and "expandable" in attrs:
                ent = {"type": "expandable_blockquote"}
            stack.append((tag, ent, u16))
            i += 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), sorted(ents, key=lambda e: (e["offset"], -e["length"]))


def _strip(text: str, ents: list[JSON]) -> tuple[str, list[JSON]]:
    """Telegram trims surrounding whitespace; entity offsets move with the text."""
    shift, text = _u16(text[: len(text) - len(text.lstrip())]), text.strip()
    kept = []
    for e in ents:
        start = max(e["offset"] - shift, 0)
        end = min(e["offset"] + e["length"] - shift, _u16(text))
        if end > start:
            kept.append({**e, "offset": start, "length": end - start})
    return text, kept


def _decode_params(query: str, ctype: str, body: bytes) -> JSON:
    raw: JSON = dict(parse_qsl(query, keep_blank_values=True))
    mime = ctype.split(";")[0].strip().lower()
    if mime == "application/json":
        return {**raw, **json.loads(body or b"{}")}
    if mime == "application/x-www-form-urlencoded":
        raw.update(parse_qsl(body.decode(), keep_blank_values=True))
    elif boundary := re.search(r'boundary="?([^";]+)', ctype) if mime.startswith("multi") else None:
        for part in body.split(b"--" + boundary[1].encode())[1:-1]:
            head, _, content = part[2:-2].partition(b"\r\n\r\n")
            name = re.search(r'\bname="([^"]*)"', head.decode())
            filename = re.search(r'\bfilename="([^"]*)"', head.decode())
            if name and filename:  # HTML5 form encoding escapes " as %22
                raw[name[1]] = {"filename": filename[1].replace("%22", '"'), "content": content}
            elif name:
                raw[name[1]] = content.decode()

    def coerce(key: str, value: Any) -> Any:
        if isinstance(value, str) and key not in STRING_PARAMS:
            with contextlib.suppress(ValueError):
                return json.loads(value)
        return value

    return {k: coerce(k, v) for k, v in raw.items()}


@dataclass
class Call:
    method: str
    params: JSON  # decoded; uploaded files are {"filename": str, "content": bytes}
    at: float  # time.monotonic() on arrival
    status: int = 0  # HTTP status of the answer (0 while still running)
    response: JSON | None = None


@dataclass
class SentMessage:
    chat_id: int
    message_id: int
    text: str  # what the user sees, markup parsed away (for a document: its caption)
    raw_text: str | None  # as the bot sent it
    parse_mode: str | None
    entities: list[JSON]
    reply_markup: JSON | None
    document: tuple[str, bytes] | None = None
    edits: list[JSON] = field(default_factory=list)  # earlier versions, oldest first
    deleted: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeTelegramServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that died with its connection open (a bot killed in a test)
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.fake._conns.add(self.connection)

    def finish(self) -> None:
        self.server.fake._conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_POST(self) -> None:
        url, ctype = urlsplit(self.path), self.headers.get("Content-Type", "")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = unquote(url.path)  # httpx percent-encodes the token's ':' in file URLs
        status, payload, out_type = self.server.fake._dispatch(path, url.query, ctype, body)
        try:
            self.send_response(status)
            self.send_header("Content-Type", out_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up: read timeout, cancelled long-poll, stop()
            self.close_connection = True

    do_GET = do_POST


class FakeTelegramServer:
    """In-process Bot API server; use it as a context manager. See the module docstring."""

    def __init__(self, token: str = "123456:TEST-TOKEN", *, strict_ampersand: bool = True):
        self.token, self.strict_ampersand, self.webhook_url = token, strict_ampersand, ""
        self.webhook_secret: str | None = None
        # What the bot subscribed to (getUpdates/setWebhook remember it, as Telegram does);
        # None: Telegram's default, every type but chat_member and the reaction updates.
        self.allowed_updates: list[str] | None = None
        self._cond = threading.Condition(threading.RLock())
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._calls: list[Call] = []
        self._updates: list[JSON] = []
        self._next_update_id, self._poll_gen, self._next_query = 10_000, 0, 1
        self._chats: dict[int, JSON] = {}
        self._users: dict[int, JSON] = {}
        self._next_mid: dict[int, int] = {}
        self._raw: dict[tuple[int, int], JSON] = {}  # every live message, as Telegram has it
        self._sent: dict[int, list[SentMessage]] = {}
        self._queries: set[str] = set()
        self._faults: dict[str, list[list[Any]]] = {}  # method -> [[kind, retry, sleep, times]]
        self._files: dict[str, bytes] = {}
        self._unsized: set[str] = set()  # files whose size Telegram does not state
        self._commands: dict[str, list[JSON]] = {}
        self.descriptions: dict[str, str] = {}  # language code -> setMyDescription's text
        # (update_id, HTTP status or 0 for no answer) of every webhook delivery attempt
        self.webhook_deliveries: list[tuple[int, int]] = []
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/file/bot"

    def __enter__(self) -> FakeTelegramServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def push_webhooks(self, url: str) -> None:
        """Deliver updates to ``url`` (the bot's listener, or a proxy in front of several)
        while a webhook is set, the way Telegram does: one POST per update, oldest first,
        with the secret header; an update not answered 200 is tried again."""
        threading.Thread(target=self._push, args=(url,), daemon=True).start()

    def _push(self, url: str) -> None:
        while not self._stopping.is_set():
            with self._cond:
                self._updates = [u for u in self._updates if self._delivered(u)]
                if not (self.webhook_url and self._updates):
                    self._cond.wait(0.05)
                    continue
                update, secret = copy.deepcopy(self._updates[0]), self.webhook_secret
            headers = {"Content-Type": "application/json"}
            if secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = secret
            request = urllib.request.Request(url, json.dumps(update).encode(), headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status = int(response.status)
            except urllib.error.HTTPError as error:
                status = int(error.code)
            except OSError:
                status = 0
            with self._cond:
                self.webhook_deliveries.append((int(update["update_id"]), status))
                if status == 200:
                    self._updates = [
                        u for u in self._updates if u["update_id"] != update["update_id"]
                    ]
            if status != 200:
                self._stopping.wait(0.1)

    def stop(self) -> None:
        """Stop serving: pending long-polls return at once and open connections are cut."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._httpd.shutdown()
        for conn in list(self._conns):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()

    # ----- test-side API ---------------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def bot_messages(self, chat_id: int) -> list[SentMessage]:
        with self._cond:
            return [copy.deepcopy(m) for m in self._sent.get(chat_id, []) if not m.deleted]

    def documents(self, chat_id: int) -> list[tuple[str, bytes, str]]:
        return [(*m.document, m.text) for m in self.bot_messages(chat_id) if m.document]

    def my_commands(self, scope_type: str = "default", language_code: str = "") -> list[JSON]:
        with self._cond:
            return list(self._commands.get(f"{scope_type}/{language_code}", []))

    def fail_next(
        self, method: str, kind: str = "429", retry_after: int = 1, times: int = 1, sleep: float = 5
    ) -> None:
        """Fail the next ``times`` calls of ``method`` (``"*"``: of any method but getUpdates):
        kind "429" (with ``retry_after``), "500", "502", "404" (what Telegram answers for an
        unknown method; PTB calls it InvalidToken), or "timeout" (answer after ``sleep``
        seconds; the call still takes effect, as with a slow real server)."""
        with self._cond:
            self._faults.setdefault(method.lower(), []).append([kind, retry_after, sleep, times])

    def queue_update(self, update: JSON) -> int:
        """Queue a copy of a raw update; an update_id is assigned unless it has one."""
        with self._cond:
            update = {**update}
            update.setdefault("update_id", self._next_update_id)
            self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
            self._updates = sorted([*self._updates, update], key=lambda u: u["update_id"])
            self._cond.notify_all()
            return int(update["update_id"])

    def user_sends(
        self, chat_id: int, user_id: int, message_fields: JSON, *, chat_type: str = "private",
        username: str = "alice", first_name: str = "Alice",
    ) -> JSON:  # fmt: skip
        """Queue a message update from a user (any Message fields) and return the Message."""
        with self._cond:
            user = {"id": user_id, "is_bot": False, "first_name": first_name, "username": username}
            self._users[user_id] = user
            chat = self._chats.setdefault(chat_id, {"id": chat_id, "type": chat_type})
            if chat_type == "private":
                chat.update(first_name=first_name, username=username)
            else:
                chat.setdefault("title", f"Test {chat_type}")
            msg: JSON = {"message_id": self._new_mid(chat_id), "from": user, "chat": dict(chat)}
            msg.update(date=int(time.time()), **message_fields)
            self._raw[(chat_id, msg["message_id"])] = msg
            self.queue_update({"message": msg})
            return msg

    def user_sends_text(
        self, chat_id: int, user_id: int, text: str, *, chat_type: str = "private",
        reply_to_message_id: int | None = None, forward: bool = False,
        entities: list[JSON] | None = None, username: str = "alice", first_name: str = "Alice",
        forward_origin: JSON | None = None,
    ) -> JSON:  # fmt: skip
        """Queue a text message; ``forward_origin`` (a MessageOrigin dict) makes it a forward."""
        fields: JSON = {"text": text}
        if entities is None and text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": _u16(text.split()[0])}]
        if entities:
            fields["entities"] = entities
        if reply_to_message_id is not None:
            with self._cond:
                replied = self._raw[(chat_id, reply_to_message_id)]
            fields["reply_to_message"] = copy.deepcopy(replied)
        if forward_origin is not None:
            fields["forward_origin"] = {"date": int(time.time()) - 3600, **forward_origin}
        elif forward:
            origin = {"type": "hidden_user", "sender_user_name": "Bob"}
            fields["forward_origin"] = {**origin, "date": int(time.time()) - 3600}
        return self.user_sends(
            chat_id, user_id, fields, chat_type=chat_type, username=username, first_name=first_name
        )

    def user_edits_text(self, chat_id: int, message_id: int, text: str) -> JSON:
        """Queue an edited_message update: the user changed the text of their message."""
        with self._cond:
            msg = copy.deepcopy(self._raw[(chat_id, message_id)])
            msg.update(text=text, edit_date=int(time.time()))
            msg.pop("entities", None)
            if text.startswith("/"):
                msg["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": _u16(text.split()[0])}]  # fmt: skip
            self._raw[(chat_id, message_id)] = msg
        self.queue_update({"edited_message": copy.deepcopy(msg)})
        return msg

    def channel_posts(self, chat_id: int, text: str, *, title: str = "Test channel") -> JSON:
        """Queue a channel_post update: a post in a channel the bot administers (no ``from``;
        the channel is its ``sender_chat``). A text starting with "/" is a command."""
        with self._cond:
            chat = self._chats.setdefault(chat_id, {"id": chat_id, "type": "channel"})
            chat.setdefault("title", title)
            msg: JSON = {"message_id": self._new_mid(chat_id), "sender_chat": dict(chat),
                         "chat": dict(chat), "date": int(time.time()), "text": text}  # fmt: skip
            if text.startswith("/"):
                msg["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": _u16(text.split()[0])}]  # fmt: skip
            self._raw[(chat_id, msg["message_id"])] = msg
        self.queue_update({"channel_post": copy.deepcopy(msg)})
        return msg

    def channel_edits_post(self, chat_id: int, message_id: int, text: str) -> JSON:
        """Queue an edited_channel_post update: the channel's post now reads ``text``."""
        with self._cond:
            msg = copy.deepcopy(self._raw[(chat_id, message_id)])
            msg.update(text=text, edit_date=int(time.time()))
            self._raw[(chat_id, message_id)] = msg
        self.queue_update({"edited_channel_post": copy.deepcopy(msg)})
        return msg

    def user_sends_document(
        self, chat_id: int, user_id: int, filename: str, content: bytes, *,
        mime_type: str = "text/plain", caption: str | None = None, file_size: bool = True,
    ) -> JSON:  # fmt: skip
        """Queue a message with an uploaded file, which the bot can fetch with getFile.
        ``file_size=False`` leaves the size out, as Telegram's Document may."""
        with self._cond:
            file_id = f"uploads/{len(self._files) + 1}/{filename}"
            self._files[file_id] = content
        document: JSON = {"file_id": file_id, "file_unique_id": file_id, "file_name": filename,
                          "mime_type": mime_type}  # fmt: skip
        if file_size:
            document["file_size"] = len(content)
        else:
            with self._cond:
                self._unsized.add(file_id)
        fields: JSON = {"document": document}
        if caption:
            fields["caption"] = caption
        return self.user_sends(chat_id, user_id, fields)

    def user_presses_button(self, chat_id: int, user_id: int, message_id: int, data: str) -> JSON:
        """Queue a callback_query update for an inline button under a live message."""
        with self._cond:
            query_id, self._next_query = str(self._next_query), self._next_query + 1
            self._queries.add(query_id)
            user = self._users.get(user_id, {"id": user_id, "is_bot": False, "first_name": "Alice"})
            message = copy.deepcopy(self._raw[(chat_id, message_id)])
            rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
            if data not in [b.get("callback_data") for row in rows for b in row]:
                raise ValueError(f"message {message_id} has no button with data {data!r}")
            query = {"id": query_id, "from": user, "message": message, "data": data}
            query["chat_instance"] = str(chat_id)
            self.queue_update({"callback_query": query})
            return query

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        """Poll ``predicate`` until it is truthy (returned) or fail with AssertionError."""
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            if time.monotonic() > deadline:
                recent = [c.method for c in self.calls[-10:]]
                raise AssertionError(f"condition not met within {timeout}s; last calls {recent}")
            await asyncio.sleep(0.02)
        return value

    # ----- HTTP plumbing ---------------------------------------------------------------------
    def _dispatch(self, path: str, query: str, ctype: str, body: bytes) -> tuple[int, bytes, str]:
        is_file = path.startswith("/file/bot")
        token, _, rest = path.removeprefix("/file/bot" if is_file else "/bot").partition("/")
        call: Call | None = None
        try:
            if not path.startswith(("/bot", "/file/bot")) or not re.fullmatch(r"\d+:[\w-]+", token):
                raise ApiError(404, "Not Found")  # Telegram's answer to a malformed token
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            if is_file:
                if rest not in self._files:
                    raise ApiError(404, "Not Found")
                return 200, self._files[rest], "application/octet-stream"
            call = Call(rest, _decode_params(query, ctype, body), time.monotonic())
            with self._cond:
                self._calls.append(call)
            self._inject_fault(rest.lower())
            handler = getattr(self, "_m_" + rest.lower(), None)
            if handler is None:
                raise ApiError(404, "Not Found")
            with self._cond:
                out: JSON = {"ok": True, "result": handler(call.params)}
            status = 200
        except (AttributeError, KeyError, TypeError, ValueError) as e:  # malformed parameters
            status, out = (
                400,
                {"ok": False, "error_code": 400, "description": f"Bad Request: {e!r}"},
            )
        except ApiError as e:
            status, out = e.code, {"ok": False, "error_code": e.code, "description": e.description}
            if e.parameters:
                out["parameters"] = e.parameters
        if call is not None:
            call.status, call.response = status, out
        return status, json.dumps(out).encode(), "application/json"

    def _inject_fault(self, method: str) -> None:
        with self._cond:
            faults = self._faults.get(method)
            if not faults and method != "getupdates":
                faults = self._faults.get("*")
            if not faults:
                return
            kind, retry_after, sleep, _ = faults[0]
            faults[0][3] -= 1
            if faults[0][3] <= 0:
                faults.pop(0)
        if kind == "429":
            msg = f"Too Many Requests: retry after {retry_after}"
            raise ApiError(429, msg, {"retry_after": retry_after})
        if kind == "500":
            raise ApiError(500, "Internal Server Error")
        if kind == "502":
            raise ApiError(502, "Bad Gateway")
        if kind == "404":
            raise ApiError(404, "Not Found")
        self._stopping.wait(sleep)  # "timeout": answer late; the call then runs normally

    # ----- state helpers (called with the lock held) -----------------------------------------
    def _new_mid(self, chat_id: int) -> int:
        self._next_mid[chat_id] = self._next_mid.get(chat_id, 0) + 1
        return self._next_mid[chat_id]

    def _chat(self, p: JSON) -> JSON:
        chat_id = p.get("chat_id")
        if chat_id in (None, ""):
            raise bad("chat_id is empty")
        if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id):
            chat_id = int(chat_id)
        if not isinstance(chat_id, int) or chat_id not in self._chats:
            raise bad("chat not found")
        return self._chats[chat_id]

    def _bot_message(self, p: JSON) -> SentMessage:
        chat_id, message_id = self._chat(p)["id"], int(p.get("message_id") or 0)
        for m in self._sent.get(chat_id, []):
            if m.message_id == message_id and not m.deleted:
                return m
        if (chat_id, message_id) in self._raw:
            raise bad("message can't be edited")
        raise bad("message to edit not found")

    def _render(self, p: JSON, key: str, limit: int) -> tuple[str, list[JSON]]:
        text, mode = str(p.get(key) or ""), str(p.get("parse_mode") or "").lower()
        if mode not in ("", "html", "markdown", "markdownv2"):
            raise bad("unsupported parse_mode")
        if mode == "html":
            plain, ents = _strip(*parse_html(text, self.strict_ampersand))
        else:  # Markdown passes unchecked; explicit entities are taken as given
            ents = p.get("entities" if key == "text" else "caption_entities") or []
            plain, ents = _strip(text, list(ents))
        if key == "text" and not plain:
            raise bad("message text is empty")
        if len(plain) > limit:
            raise bad("message is too long" if key == "text" else "message caption is too long")
        return plain, ents

    def _markup(self, p: JSON) -> JSON | None:
        markup = p.get("reply_markup")
        for row in (markup or {}).get("inline_keyboard", []):
            if any(len(str(b.get("callback_data", "")).encode()) > 64 for b in row):
                raise bad("BUTTON_DATA_INVALID")
        return markup

    def _message_dict(self, m: SentMessage) -> JSON:
        msg = copy.deepcopy(self._raw[(m.chat_id, m.message_id)])
        for key in ("text", "caption", "entities", "caption_entities", "reply_markup"):
            msg.pop(key, None)
        prefix = "" if m.document is None else "caption_"
        if m.text:
            msg["caption" if prefix else "text"] = m.text
        if m.entities:
            msg[prefix + "entities"] = m.entities
        if m.reply_markup and "inline_keyboard" in m.reply_markup:
            msg["reply_markup"] = m.reply_markup
        if m.edits:
            msg["edit_date"] = int(time.time())
        self._raw[(m.chat_id, m.message_id)] = msg
        return copy.deepcopy(msg)

    def _send(self, p: JSON, key: str, document: tuple[str, bytes] | None, extra: JSON) -> JSON:
        plain, ents = self._render(p, key, 4096 if key == "text" else 1024)
        chat, markup = self._chat(p), self._markup(p)
        reply_to = (p.get("reply_parameters") or {}).get("message_id", p.get("reply_to_message_id"))
        if reply_to is not None and (chat["id"], reply_to) not in self._raw:
            raise bad("message to be replied not found")
        mid = self._new_mid(chat["id"])
        msg = {"message_id": mid, "from": BOT_USER, "chat": dict(chat), "date": int(time.time())}
        if reply_to is not None:
            msg["reply_to_message"] = copy.deepcopy(self._raw[(chat["id"], reply_to)])
        self._raw[(chat["id"], mid)] = {**msg, **extra}
        sent = SentMessage(chat["id"], mid, plain, p.get(key), p.get("parse_mode"), ents, markup)
        sent.document = document
        self._sent.setdefault(chat["id"], []).append(sent)
        return self._message_dict(sent)

    def _edit(self, m: SentMessage, text: str, ents: list[JSON], markup: JSON | None) -> JSON:
        if (text, ents, markup) == (m.text, m.entities, m.reply_markup):
            raise bad(NOT_MODIFIED)
        m.edits.append({"text": m.text, "raw_text": m.raw_text, "reply_markup": m.reply_markup})
        m.text, m.entities, m.reply_markup = text, ents, markup
        return self._message_dict(m)

    # ----- Bot API methods, by lower-case name (called with the lock held) -------------------
    def _m_getme(self, p: JSON) -> JSON:
        return BOT_USER

    def _m_setwebhook(self, p: JSON) -> bool:
        """Telegram's own checks: an HTTPS URL on an allowed port, a well-formed secret."""
        url = str(p.get("url") or "")
        if url:
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                raise bad("bad webhook: An HTTPS URL must be provided for webhook")
            if (parts.port or 443) not in (80, 88, 443, 8443):
                raise bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad("secret token contains unallowed characters")
        self._remember_allowed(p)
        self.webhook_url, self.webhook_secret = url, (str(secret) if secret else None)
        return True

    def _remember_allowed(self, p: JSON) -> None:
        allowed = p.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(a) for a in allowed] or None

    def _delivered(self, update: JSON) -> bool:
        kinds = [k for k in update if k != "update_id"]
        if self.allowed_updates is None:
            default_off = {"chat_member", "message_reaction", "message_reaction_count"}
            return not default_off.intersection(kinds)
        return bool(set(self.allowed_updates).intersection(kinds))

    def _m_deletewebhook(self, p: JSON) -> bool:
        self.webhook_url = ""
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_getupdates(self, p: JSON) -> list[JSON]:
        if self.webhook_url:
            msg = "can't use getUpdates method while webhook is active; use deleteWebhook to"
            raise ApiError(409, f"Conflict: {msg} delete the webhook first")
        offset, limit = int(p.get("offset") or 0), min(max(int(p.get("limit") or 100), 1), 100)
        self._remember_allowed(p)
        # Telegram never delivers an update type the bot did not subscribe to.
        self._updates = [u for u in self._updates if self._delivered(u)]
        if offset:  # confirms every update below offset; a negative one keeps the last -offset
            keep = [u for u in self._updates if u["update_id"] >= offset]
            self._updates = self._updates[offset:] if offset < 0 else keep
        self._poll_gen += 1
        gen, deadline = self._poll_gen, time.monotonic() + float(p.get("timeout") or 0)
        self._cond.notify_all()
        while not self._updates and not self._stopping.is_set() and time.monotonic() < deadline:
            self._cond.wait(deadline - time.monotonic())
            if gen != self._poll_gen:
                msg = "terminated by other getUpdates request; make sure that only one bot"
                raise ApiError(409, f"Conflict: {msg} instance is running")
            self._updates = [u for u in self._updates if self._delivered(u)]
        return copy.deepcopy(self._updates[:limit])

    def _m_sendmessage(self, p: JSON) -> JSON:
        return self._send(p, "text", None, {})

    def _m_senddocument(self, p: JSON) -> JSON:
        doc = p.get("document")
        if isinstance(doc, dict):
            name, content = str(doc.get("filename") or "document"), bytes(doc["content"])
        elif isinstance(doc, str) and doc in self._files:  # re-sending by file_id
            name, content = doc.rsplit("/", 1)[-1], self._files[doc]
        else:
            raise bad("wrong file identifier/HTTP URL specified")
        self._chat(p)
        file_id = f"documents/{len(self._files) + 1}/{name}"
        self._files[file_id] = content
        meta: JSON = {
            "file_id": file_id,
            "file_unique_id": f"u{len(self._files)}",
            "file_name": name,
        }
        meta["file_size"] = len(content)
        return self._send(p, "caption", (name, content), {"document": meta})

    def _m_getfile(self, p: JSON) -> JSON:
        file_id = str(p.get("file_id", ""))
        if file_id not in self._files:
            raise bad("invalid file_id")
        found: JSON = {"file_id": file_id, "file_unique_id": file_id, "file_path": file_id}
        if file_id not in self._unsized:  # optional in Telegram's File as in its Document
            found["file_size"] = len(self._files[file_id])
        return found

    def _m_editmessagetext(self, p: JSON) -> JSON:
        m = self._bot_message(p)
        if m.document is not None:
            raise bad("there is no text in the message to edit")
        text, ents = self._render(p, "text", 4096)
        edited = self._edit(m, text, ents, self._markup(p))
        m.raw_text, m.parse_mode = p.get("text"), p.get("parse_mode")
        return edited

    def _m_editmessagereplymarkup(self, p: JSON) -> JSON:
        m = self._bot_message(p)
        return self._edit(m, m.text, m.entities, self._markup(p))

    def _m_deletemessage(self, p: JSON) -> bool:
        key = (int(self._chat(p)["id"]), int(p.get("message_id") or 0))
        if self._raw.pop(key, None) is None:
            raise bad("message to delete not found")
        for m in self._sent.get(key[0], []):
            m.deleted = m.deleted or m.message_id == key[1]
        return True

    def _m_sendchataction(self, p: JSON) -> bool:
        self._chat(p)
        if p.get("action") not in CHAT_ACTIONS:
            raise bad("wrong parameter action in request")
        return True

    def _m_answercallbackquery(self, p: JSON) -> bool:
        if str(p.get("callback_query_id")) not in self._queries:
            raise bad("query is too old and response timeout expired or query ID is invalid")
        self._queries.discard(str(p["callback_query_id"]))
        return True

    def _m_setmycommands(self, p: JSON) -> bool:
        commands = list(p.get("commands") or [])
        for c in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", ""))):
                raise bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", "")).strip()) <= 256:
                raise bad("command description is empty")
        self._commands[self._scope(p)] = commands
        return True

    def _m_deletemycommands(self, p: JSON) -> bool:
        self._commands.pop(self._scope(p), None)
        return True

    def _m_setmydescription(self, p: JSON) -> bool:
        if len(str(p.get("description") or "")) > 512:
            raise bad("description is too long")
        self.descriptions[str(p.get("language_code") or "")] = str(p.get("description") or "")
        return True

    def _m_getmycommands(self, p: JSON) -> list[JSON]:
        return self._commands.get(self._scope(p), [])

    def _scope(self, p: JSON) -> str:
        return f"{(p.get('scope') or {}).get('type', 'default')}/{p.get('language_code') or ''}"

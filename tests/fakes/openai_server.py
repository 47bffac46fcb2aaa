"""A fake of the OpenAI Chat Completions HTTP API, at least as strict as the real servers.

It serves ``POST /v1/chat/completions`` and ``GET /v1/models`` on 127.0.0.1 (free port) from a
standard-library ``ThreadingHTTPServer`` in a daemon thread, so the *real* ``openai`` client can
be pointed at it: no mocks, the client's own error mapping, retries and timeouts are exercised.

It plays one server ``profile`` at a time, the servers users point the bot at:

- ``openai``: strict ``json_schema`` checked with OpenAI's rules and wording (an object without
  ``additionalProperties: false``, a ``required`` missing a property, an unsupported keyword:
  400); ``json_object`` needs the word "json" in the messages; ``response_format`` takes no
  other keys; reasoning models (o-series, gpt-5) refuse ``max_tokens`` and a ``temperature``
  other than 1, as OpenAI does.
- ``vllm`` / ``ollama``: any valid JSON Schema, enforced (length limits included).
- ``llamacpp``: ``json_object`` with a ``schema`` (enforced as a grammar); ``json_schema``
  refused with llama.cpp's wording.
- ``plain``: takes prompts only; ``response_format`` is an unrecognized argument, and the reply
  wraps its JSON in a fenced block with a line of chatter.

Where a schema is enforced, the reply is built from the request's schema (``schema_rules``):
keys it lacks are never written, required keys always are, and the result is validated with
``jsonschema`` before it is sent. Reply bodies follow the recorded real responses in
``recorded/`` (see its README). What the "model" wants to write comes from a ``responder``;
faults (429, 500, timeouts, broken JSON, truncation, refusals, context-length errors, non-JSON
bodies) are queued with ``fail_next``. Every request gets its own thread, so injected latency
overlaps across concurrent requests; ``max_in_flight`` records the peak concurrency seen.

Usage numbers: ``prompt_tokens`` = sum over request messages of ``count_tokens(text) + 4``
(``MESSAGE_OVERHEAD_TOKENS``, roughly what OpenAI's chat format adds per message);
``completion_tokens`` = ``count_tokens(content or "")``.
"""

from __future__ import annotations

import copy
import json
import re
import select
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from tests.fakes.schema_rules import conform, openai_strict_problem, schema_problem

Profile = Literal["openai", "vllm", "ollama", "llamacpp", "plain"]
PROFILES: tuple[Profile, ...] = ("openai", "vllm", "ollama", "llamacpp", "plain")
RECORDED = Path(__file__).parent / "recorded"
REASONING_MODEL = re.compile(r"^(?:o\d|gpt-5)", re.IGNORECASE)
MESSAGE_OVERHEAD_TOKENS = 4
FAKE_MODEL = "fake-model"
FAULT_KINDS = frozenset(
    {"429", "500", "timeout", "bad_json", "length", "refusal", "context_length", "not_json_body"}
)


@dataclass
class FakeReply:
    content: str | None = None  # what the "model" writes
    finish_reason: str = "stop"
    refusal: str | None = None


Responder = Callable[[dict[str, Any]], FakeReply | str]  # gets the parsed JSON request body


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # keys lower-cased
    body: Any  # parsed JSON, or None if absent / not JSON
    started_at: float  # time.monotonic()
    finished_at: float | None = None
    status: int | None = None
    fault: str | None = None  # the fail_next kind consumed by this request, if any
    error: str | None = None  # text of an exception raised by the responder
    client_gone: bool = False  # the client had hung up (cancelled) before the answer was sent


def message_text(content: Any) -> str:
    """Text of a message ``content``: a string, or a list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def echo_responder(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return json.dumps({"echo": message_text(users[-1].get("content")) if users else None})


def _error(message: str, type_: str, code: Any = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a capped download, a timeout test) is not the fake's
        error: only anything else is printed, as the standard server does."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            hdrs = {"content-type": "application/json", **(headers or {})}
            hdrs |= {"content-length": str(len(raw)), "connection": "close"}
            hdrs.setdefault("x-request-id", f"req_{uuid.uuid4().hex}")
            for name, value in hdrs.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired); nothing left to tell it


class FakeOpenAIServer:
    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency: float = 0.0,
        count_tokens: Callable[[str], int] | None = None,
        port: int = 0,
        profile: Profile = "openai",
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
        self.profile: Profile = profile
        self.template = _recorded_template(profile)
        self.responder: Responder = responder or echo_responder
        self.port = port
        self.latency = latency
        self.count_tokens: Callable[[str], int] = count_tokens or (lambda text: len(text) // 4)
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._faults: deque[tuple[str, dict[str, Any]]] = deque()
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self.base_url = ""

    def start(self) -> FakeOpenAIServer:
        self._httpd = _HTTPServer(("127.0.0.1", self.port), _Handler)
        self._httpd.fake = self
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, kind: str, times: int = 1, **options: Any) -> None:
        """Queue ``times`` faults of ``kind``, consumed one each by the next valid chat requests.

        Options: 429 -> ``retry_after`` (header value, default 0), ``message``, ``code``;
        500 -> ``message``; timeout -> ``seconds`` (default 5); bad_json -> ``content``;
        refusal -> ``refusal``; context_length -> ``max_context`` (default 8192);
        not_json_body -> ``body``, ``content_type`` (default text/html).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        with self._lock:
            self._faults.extend((kind, dict(options)) for _ in range(times))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.max_in_flight = 0

    def _handle(self, h: _Handler) -> None:
        raw = h.rfile.read(int(h.headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = h.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in h.headers.items()}
        rec = RecordedRequest(h.command, path, headers, body, time.monotonic())
        with self._lock:
            self.requests.append(rec)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            status, payload, extra = self._route(rec)
        except Exception as exc:  # e.g. the responder (test code) raised: answer 500 with it
            rec.error = f"{type(exc).__name__}: {exc}"
            status, payload, extra = 500, _error(rec.error, "server_error"), {}
        # ``latency`` is the whole time of a call, the fake's own work included, as a real
        # server's latency includes its work: the bench's ratios are then to one call.
        time.sleep(max(0.0, self.latency - (time.monotonic() - rec.started_at)))
        rec.status, rec.finished_at = status, time.monotonic()
        rec.client_gone = _peer_closed(h.connection)
        with self._lock:
            self._in_flight -= 1
        h.send(status, payload, extra)  # only after the bookkeeping: clients never see it stale

    def _route(self, rec: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        if (rec.method, rec.path) == ("GET", "/v1/models"):
            model = {"id": FAKE_MODEL, "object": "model", "created": 0, "owned_by": "fake"}
            return 200, {"object": "list", "data": [model]}, {}
        if (rec.method, rec.path) != ("POST", "/v1/chat/completions"):
            msg = f"Invalid URL ({rec.method} {rec.path})"
            return 404, _error(msg, "invalid_request_error", "unknown_url"), {}
        body = rec.body
        # Requests the server would refuse anyway get their 400 and leave the fault queue alone.
        if not isinstance(body, dict):
            return 400, _error("Request body must be a JSON object.", "invalid_request_error"), {}
        if body.get("stream"):
            msg = "stream=true is not supported by this fake server"
            return 400, _error(msg, "invalid_request_error", None, "stream"), {}
        if (refusal := self._refusal(body)) is not None:
            code = refusal["error"].get("code")
            return (code if isinstance(code, int) else 400), refusal, {}
        with self._lock:
            kind, opts = self._faults.popleft() if self._faults else ("", {})
        rec.fault = kind or None
        if kind == "429":
            msg = opts.get("message", "Rate limit reached for requests. Please try again later.")
            err = _error(msg, "rate_limit_error", opts.get("code", "rate_limit_exceeded"))
            return 429, err, {"retry-after": str(opts.get("retry_after", 0))}
        if kind == "500":
            msg = opts.get("message", "The server had an error while processing your request.")
            return 500, _error(msg, "server_error"), {}
        if kind == "context_length":
            msg = (
                f"This model's maximum context length is {opts.get('max_context', 8192)} tokens. "
                f"However, your messages resulted in {self._prompt_tokens(body)} tokens. "
                "Please reduce the length of the messages."
            )
            err = _error(msg, "invalid_request_error", "context_length_exceeded", "messages")
            return 400, err, {}
        if kind == "not_json_body":
            page = opts.get("body", "<html><body>502 Bad Gateway (upstream)</body></html>")
            return 200, page.encode(), {"content-type": opts.get("content_type", "text/html")}
        if kind == "timeout":
            time.sleep(opts.get("seconds", 5))
        if kind == "bad_json":
            reply = FakeReply(content=opts.get("content", '{"summary": "cut off'))
        elif kind == "refusal":
            reply = FakeReply(refusal=opts.get("refusal", "I'm sorry, I can't help with that."))
        else:
            got = self.responder(body)
            reply = FakeReply(content=got) if isinstance(got, str) else got
            reply = self._as_the_server_allows(body, reply)
            if kind == "length":
                text = reply.content or ""
                reply = FakeReply(content=text[: len(text) // 2], finish_reason="length")
        return 200, self._completion(body, reply), {}

    # --- what the profile's real server accepts and writes --------------------------------

    def _refusal(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The 400 body the real server sends for this request, or None if it takes it."""
        fmt = body.get("response_format")
        rtype = fmt.get("type") if isinstance(fmt, dict) else None
        if self.profile == "plain":
            if fmt is not None:
                msg = "Unrecognized request argument supplied: response_format"
                return _error(msg, "invalid_request_error")
            return None
        if self.profile == "llamacpp":
            if rtype not in (None, "text", "json_object"):
                # llama.cpp's server wording; its code is an int.
                msg = (
                    f'response_format type must be one of "text" or "json_object", but got: {rtype}'
                )
                return {"error": {"code": 400, "message": msg, "type": "invalid_request_error"}}
            schema = fmt.get("schema") if isinstance(fmt, dict) else None
            if schema is not None and (problem := schema_problem(schema)) is not None:
                return {"error": {"code": 400, "message": problem, "type": "invalid_request_error"}}
            return None
        if fmt is not None and rtype not in ("text", "json_object", "json_schema"):
            msg = (
                f"Invalid value: '{rtype}'. Supported values are: 'json_object', "
                "'json_schema', and 'text'."
            )
            return _error(msg, "invalid_request_error", "invalid_value", "response_format.type")
        if self.profile == "openai":
            return self._openai_refusal(body, fmt, rtype)
        if rtype == "json_schema" and isinstance(fmt, dict):
            # vLLM and Ollama: any valid JSON Schema, enforced
            schema = (fmt.get("json_schema") or {}).get("schema")
            if (problem := schema_problem(schema)) is not None:
                # vLLM's current error shape (recorded/vllm_error_current.json): code an int.
                msg = f"The provided JSON schema is invalid: {problem}"
                error = {"message": msg, "type": "BadRequestError", "param": None, "code": 400}
                return {"error": error}
        return None

    def _openai_refusal(
        self, body: dict[str, Any], fmt: Any, rtype: str | None
    ) -> dict[str, Any] | None:
        model = str(body.get("model", ""))
        if REASONING_MODEL.match(model):
            if "max_tokens" in body:
                msg = (
                    "Unsupported parameter: 'max_tokens' is not supported with this model. "
                    "Use 'max_completion_tokens' instead."
                )
                return _error(msg, "invalid_request_error", "unsupported_parameter", "max_tokens")
            temperature = body.get("temperature")
            if temperature is not None and temperature != 1:
                msg = (
                    f"Unsupported value: 'temperature' does not support {temperature} with this "
                    "model. Only the default (1) value is supported."
                )
                return _error(msg, "invalid_request_error", "unsupported_value", "temperature")
        if isinstance(fmt, dict):
            allowed = {"type"} | ({"json_schema"} if rtype == "json_schema" else set())
            if extra := sorted(set(fmt) - allowed):
                msg = f"Unrecognized request argument supplied: response_format.{extra[0]}"
                return _error(
                    msg, "invalid_request_error", "unknown_parameter", f"response_format.{extra[0]}"
                )
        if rtype == "json_object":
            text = " ".join(message_text(m.get("content")) for m in body.get("messages") or [])
            if "json" not in text.lower():
                msg = (
                    "'messages' must contain the word 'json' in some form, to use "
                    "'response_format' of type 'json_object'."
                )
                return _error(msg, "invalid_request_error", None, "messages")
        if rtype == "json_schema":
            spec = fmt.get("json_schema") or {}
            if spec.get("strict") and (
                problem := openai_strict_problem(str(spec.get("name", "")), spec.get("schema"))
            ):
                return _error(problem, "invalid_request_error", None, "response_format")
        return None

    def _as_the_server_allows(self, body: dict[str, Any], reply: FakeReply) -> FakeReply:
        """Where the server enforces a schema, the model can only write what it allows."""
        schema = _enforced_schema(self.profile, body.get("response_format"))
        if self.profile == "plain" and reply.content:
            return FakeReply(
                content=f"Here is the JSON you asked for:\n```json\n{reply.content}\n```",
                finish_reason=reply.finish_reason,
                refusal=reply.refusal,
            )
        if schema is None or reply.content is None or reply.refusal:
            return reply
        try:
            wanted = json.loads(reply.content)
        except ValueError:
            wanted = None  # the grammar still forces a valid object
        written = conform(wanted, schema)
        return FakeReply(json.dumps(written, ensure_ascii=False), reply.finish_reason)

    def _prompt_tokens(self, body: dict[str, Any]) -> int:
        messages = body.get("messages") or []
        return sum(
            self.count_tokens(message_text(m.get("content"))) + MESSAGE_OVERHEAD_TOKENS
            for m in messages
            if isinstance(m, dict)
        )

    def _completion(self, body: dict[str, Any], reply: FakeReply) -> dict[str, Any]:
        """A 200 body in the recorded shape of this kind of server, with this reply in it."""
        prompt, completion = self._prompt_tokens(body), self.count_tokens(reply.content or "")
        out = copy.deepcopy(self.template)
        recorded_choice = (out.get("choices") or [{}])[0]
        recorded_message = recorded_choice.get("message") or {"refusal": None}
        message = {**recorded_message, "role": "assistant", "content": reply.content}
        if "refusal" in recorded_message or reply.refusal is not None:
            message["refusal"] = reply.refusal
        choice = {**recorded_choice, "index": 0, "message": message}
        choice["finish_reason"] = reply.finish_reason
        if not self.template:
            choice["logprobs"] = None
        usage = {**(out.get("usage") or {}), "prompt_tokens": prompt}
        usage |= {"completion_tokens": completion, "total_tokens": prompt + completion}
        out |= {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", FAKE_MODEL),
            "choices": [choice],
            "usage": usage,
        }
        return out


def _peer_closed(connection: socket.socket) -> bool:
    """True if the client closed its end: readable, with nothing left to read."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _enforced_schema(profile: Profile, fmt: Any) -> dict[str, Any] | None:
    """The schema the server holds the model to, if it holds it to one."""
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema" and profile in ("openai", "vllm", "ollama"):
        spec = fmt.get("json_schema") or {}
        if profile == "openai" and not spec.get("strict"):
            return None  # OpenAI enforces a schema only in strict mode
        schema = spec.get("schema")
        return schema if isinstance(schema, dict) else None
    if fmt.get("type") == "json_object" and profile == "llamacpp":
        schema = fmt.get("schema")
        return schema if isinstance(schema, dict) else None
    return None


def _recorded_template(profile: Profile) -> dict[str, Any]:
    """The recorded real 200 body of this kind of server, whose shape every reply copies."""
    names = {
        "openai": "openai_chat_completion_json_schema.json",
        "vllm": "vllm_chat_completion.json",
        "ollama": "ollama_chat_completion.json",
        "llamacpp": "llamacpp_chat_completion.json",
        "plain": "openai_chat_completion_json_schema.json",
    }
    path = RECORDED / names[profile]
    if not path.is_file():
        return {}
    body = json.loads(path.read_text(encoding="utf-8"))["body"]
    return dict(body)


def main() -> None:
    """Serve on a fixed port until interrupted, for scripts (container smoke test, demos)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument(
        "--scripted", action="store_true", help="answer like a model that knows the shared article"
    )
    args = parser.parse_args()
    responder: Responder | None = None
    if args.scripted:
        from tests.fakes.scripted_model import ScriptedModel, zhaoqing_people

        responder = ScriptedModel(people=zhaoqing_people())
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # delivered to sigwait below
    server = FakeOpenAIServer(responder, latency=args.latency, port=args.port).start()
    print(f"fake OpenAI server at {server.base_url}", flush=True)
    signal.sigwait(stop_signals)
    server.stop()


if __name__ == "__main__":
    main()

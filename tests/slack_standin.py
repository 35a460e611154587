"""An in-process Slack Web API stand-in for tests.

``SlackStandIn`` speaks Slack's HTTP API, so the real ``slack_sdk.WebClient`` talks to
it over HTTP, unpatched::

    with SlackStandIn(known_channels={"#alerts"}) as slack:
        client = slack.client()  # WebClient(token="xoxb-test", base_url=slack.api_url)
        parent = client.chat_postMessage(channel="#alerts", text="pod OOM-killed")
        client.files_upload_v2(channel=parent["channel"], file=b"...", filename="chart.png",
                               thread_ts=parent["ts"])
        assert slack.thread("#alerts", parent["ts"])[0]["files"][0]["name"] == "chart.png"
        slack.fail_next("chat.postMessage", status=429, retry_after=1)  # or down()/up(), delay()

What slack_sdk 3.48 sends, and so what is served here:
- URLs are ``urljoin(base_url, method)``, so ``base_url`` must include ``/api``
  (``api_url``; the client adds a missing trailing slash itself).
- ``chat.*`` calls send JSON; most others a urlencoded form with JSON-valued fields
  (``files``, ``blocks``) as strings. The token always rides in ``Authorization: Bearer``.
- ``files_upload_v2`` calls ``files.getUploadURLExternal`` (filename, length) per file,
  POSTs the raw bytes to ``upload_url`` (no token, urllib's default form content type),
  then ``files.completeUploadExternal`` once (files=[{"id", "title"?}], channel_id,
  thread_ts, initial_comment). It never calls ``files.info``.
- Any non-2xx answer becomes an ``HTTPError`` inside the SDK; it asks its retry handlers
  and, when none retries, parses the body into a ``SlackApiError`` (status_code kept).
  A non-2xx from the *upload URL* is not caught: ``files_upload_v2`` raises the raw
  ``urllib.error.HTTPError``.

Deliberate simplifications: one workspace, one bot user (``BOT``); every token in
``valid_tokens`` is that bot; no scopes, rate tiers or conversation membership beyond
``not_in_channel``; file shares post their message at once (Slack does it a moment later);
replies may name a ``thread_ts`` that matches no message. A ``response_url`` takes five
posts (Slack documents "up to 5 times within 30 minutes"), then answers HTTP 404
``{"ok": false, "error": "used_url"}``; the exact body of Slack's refusal is not documented.

Socket Mode: ``apps.connections.open`` takes only an app-level token (``xapp-``) listed in
``app_tokens``: another ``xapp-`` token answers ``invalid_auth``, a bot token
``not_allowed_token_type``. Its ``url`` comes from ``socket_mode_link``, which
``tests.socket_standin.SocketModeStandIn(slack)`` installs; without one the method answers
``internal_error``. (Slack also refuses the token as a form field; this stand-in does not.)
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import itertools
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from slack_sdk import WebClient

JSON = dict[str, Any]

BOT: JSON = {
    "url": "https://podmem-test.slack.com/",
    "team": "podmem-test",
    "user": "podmem",
    "team_id": "T0PODMEM01",
    "user_id": "U0PODMEM01",
    "bot_id": "B0PODMEM01",
    "is_enterprise_install": False,
}
MAX_RESPONSE_URL_POSTS = 5
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{8,}$")  # Slack names are lowercase, ids are not
_JSON_FIELDS = ("blocks", "attachments", "files", "metadata")  # JSON strings in forms
_TS_ORIGIN_US = 1_700_000_000_000_000  # message ts values count up from here, 100 µs apart
_PSEUDO_METHODS = ("upload", "response_url")  # fail_next(None) leaves these alone
_5XX_ERRORS = {500: "internal_error", 503: "service_unavailable"}
_APP_TOKEN_METHODS = ("apps.connections.open",)  # app-level (xapp-) tokens only


@dataclass(frozen=True)
class Call:
    """One Web API request as it arrived, whatever it was answered."""

    method: str
    args: JSON  # form and JSON fields merged, JSON strings decoded, ``token`` removed
    token: str | None
    at: float  # time.monotonic() on arrival
    status: int = 200  # HTTP status answered; 0 when the connection was dropped
    error: str | None = None  # the ``error`` of an ``ok: false`` answer


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int  # as declared to files.getUploadURLExternal
    data: bytes | None = None  # None until the bytes are POSTed to the upload URL
    title: str | None = None
    channels: list[str] = field(default_factory=list)  # ids it was shared to
    thread_ts: str | None = None


@dataclass
class _Fault:
    method: str | None
    status: int
    times: int
    retry_after: int | None
    error: str | None


@dataclass
class _Reply:
    status: int = 200
    body: JSON | str = ""  # a dict goes out as JSON, a str as text/plain
    headers: dict[str, str] = field(default_factory=dict)


_DROP = _Reply(status=0)  # close the connection without answering
_UNAVAILABLE = _Reply(503, {"ok": False, "error": "service_unavailable"})


class _ApiError(Exception):
    """Raised by method handlers; becomes an HTTP 200 ``ok: false`` answer, as in Slack."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body: JSON = {"ok": False, "error": error, **extra}


def _missing(*names: str) -> _ApiError:
    messages = [f"[ERROR] missing required field: {n}" for n in names]
    return _ApiError("invalid_arguments", response_metadata={"messages": messages})


def _form(text: str) -> JSON:
    pairs = parse_qs(text, keep_blank_values=True)
    return {k: v[0] if len(v) == 1 else v for k, v in pairs.items()}


def _parse_request(query: str, headers: Message, body: bytes) -> tuple[JSON, str | None]:
    """Merges query, form and JSON arguments; returns them and the token (header first)."""
    args = _form(query)
    ctype = headers.get_content_type()
    if body and ctype == "application/json":
        parsed = json.loads(body)
        if not isinstance(parsed, dict):
            raise _ApiError("invalid_json")
        args.update(parsed)
    elif body and ctype == "application/x-www-form-urlencoded":
        args.update(_form(body.decode()))
    for key in _JSON_FIELDS:
        value = args.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):  # Slack would reject it later anyway
                args[key] = json.loads(value)
    auth = headers.get("Authorization", "")
    header_token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else None
    form_token = args.pop("token", None)
    return args, header_token or (form_token if isinstance(form_token, str) else None)


def _block_problems(blocks: list[Any]) -> list[str]:
    """The Block Kit limits Slack enforces most often, worded as Slack words them."""
    problems = []
    if len(blocks) > 50:
        problems.append("no more than 50 items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        at = f"/blocks/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            problems.append(f"missing required field: type [json-pointer:{at}]")
            continue
        text = block.get("text")
        body = text.get("text") if isinstance(text, dict) else None
        if block["type"] == "section":
            fields = block.get("fields") or []
            if body is None and not fields:
                problems.append(f"must provide either text or fields [json-pointer:{at}]")
            if body is not None and len(body) > 3000:
                problems.append(f"must be less than 3001 characters [json-pointer:{at}/text/text]")
            if len(fields) > 10:
                problems.append(f"no more than 10 items allowed [json-pointer:{at}/fields]")
            for j, f in enumerate(fields):
                if isinstance(f, dict) and len(str(f.get("text", ""))) > 2000:
                    problems.append(
                        f"must be less than 2001 characters [json-pointer:{at}/fields/{j}/text]"
                    )
        elif block["type"] == "header":
            if body is None:
                problems.append(f"missing required field: text [json-pointer:{at}]")
            elif len(body) > 150:
                problems.append(f"must be less than 151 characters [json-pointer:{at}/text/text]")
            if isinstance(text, dict) and text.get("type") != "plain_text":
                problems.append(f"must be plain_text [json-pointer:{at}/text/type]")
        elif block["type"] == "context" and len(block.get("elements") or []) > 10:
            problems.append(f"no more than 10 items allowed [json-pointer:{at}/elements]")
    return problems


def _check_content(args: JSON, *, required: bool) -> None:
    text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
    if required and not (text or blocks or attachments):
        raise _ApiError("no_text")
    if isinstance(text, str) and len(text) > 40_000:
        raise _ApiError("msg_too_long")
    if blocks is not None:
        if not isinstance(blocks, list):
            raise _ApiError("invalid_blocks_format")
        if problems := _block_problems(blocks):
            meta = {"messages": [f"[ERROR] {p}" for p in problems]}
            raise _ApiError("invalid_blocks", errors=problems, response_metadata=meta)
    if isinstance(attachments, list) and len(attachments) > 100:
        raise _ApiError("too_many_attachments")


def _public(message: JSON) -> JSON:
    """A stored message as Slack would show it: no bookkeeping, no nulls."""
    return {k: v for k, v in message.items() if k != "edits" and v is not None}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops SYNs when a test fires a burst of
    # concurrent calls; the client then retransmits after a full second.
    request_queue_size = 128
    slack: SlackStandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out (see delay()) has gone; that is the test's point.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like Slack; saves a connect per call
    timeout = 30

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; with Nagle's algorithm on, a keep-alive
        # client's delayed ACK would stall every request by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.slack._lock:
            self.server.slack._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.slack._lock:
            self.server.slack._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply, delay = self.server.slack._handle(self.path, self.headers, body)
        if delay:
            time.sleep(delay)
        if reply.status == 0:  # read the request, answer nothing: RemoteDisconnected
            self.close_connection = True
            return
        if isinstance(reply.body, dict):
            data, ctype = json.dumps(reply.body).encode(), "application/json; charset=utf-8"
        else:
            data, ctype = reply.body.encode(), "text/plain; charset=utf-8"
        self.send_response(reply.status)
        headers = {"Content-Type": ctype, "Content-Length": str(len(data))} | reply.headers
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _serve


class SlackStandIn:
    """A Slack Web API on 127.0.0.1 backed by an in-memory workspace."""

    def __init__(
        self,
        *,
        valid_tokens: Iterable[str] = ("xoxb-test",),
        known_channels: Iterable[str] | None = None,
        app_tokens: Iterable[str] = ("xapp-test",),
    ) -> None:
        self.valid_tokens = set(valid_tokens)
        self.app_tokens = set(app_tokens)  # what apps.connections.open accepts
        # Given the app token, mints the WebSocket URL apps.connections.open answers
        # (SocketModeStandIn installs one); called with this stand-in's lock held.
        self.socket_mode_link: Callable[[str], str] | None = None
        self._lock = threading.RLock()
        self._names: dict[str, str] = {}  # channel id -> name, for conversations.info
        self._known = (
            None if known_channels is None else {self.channel_id(c) for c in known_channels}
        )
        self._not_in: set[str] = set()
        self._metadata: dict[tuple[str, str], JSON] = {}  # (channel id, ts) -> metadata
        self._calls: list[Call] = []
        self._messages: dict[str, list[JSON]] = {}
        self._ephemeral: dict[str, list[JSON]] = {}
        self._files: dict[str, UploadedFile] = {}
        self._responses: dict[str, list[JSON]] = {}
        self._faults: list[_Fault] = []
        self._down: _Reply | None = None
        self._delay = 0.0
        self._ts_seq = itertools.count(1)
        self._file_seq = itertools.count(1)
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._routes: dict[str, Callable[[JSON], JSON]] = {
            "auth.test": lambda _args: {"ok": True, **BOT},
            "apps.connections.open": self._connections_open,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "conversations.info": self._conversation_info,
            "conversations.list": self._conversation_list,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "conversations.join": self._join,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "files.upload": self._files_upload_v1,
        }

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> SlackStandIn:
        if self._server is None:
            self._server = _Server(("127.0.0.1", 0), _Handler)
            self._server.slack = self
            # A short poll interval keeps stop() (and so every test) fast.
            threading.Thread(
                target=self._server.serve_forever, args=(0.02,), daemon=True, name="slack-standin"
            ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:  # idle keep-alive connections would otherwise keep serving
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackStandIn is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """What ``WebClient(base_url=...)`` wants (it urljoins method names onto it)."""
        return self.url + "/api/"

    def client(self, token: str | None = "xoxb-test", **kwargs: Any) -> WebClient:
        """A real WebClient aimed here; 5 s timeout unless given, so a hang fails fast."""
        kwargs.setdefault("timeout", 5)
        return WebClient(token=token, base_url=self.api_url, **kwargs)

    # -- inspection -------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        """Every Web API request, in arrival order, failed attempts included."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def clear(self) -> None:
        """Forgets recorded calls (messages, files and settings stay)."""
        with self._lock:
            self._calls.clear()

    def channel_id(self, channel: str) -> str:
        """The id for ``#alerts``, ``alerts`` (``C`` + a stable hash) or an id itself."""
        ref = channel.strip()
        if _CHANNEL_ID.match(ref):
            return ref
        name = ref.removeprefix("#").lower()
        cid = "C" + hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:10].upper()
        with self._lock:
            self._names.setdefault(cid, name)
        return cid

    def messages(self, channel: str) -> list[JSON]:
        """The channel's messages and replies, in post order. Each has ``ts``, ``thread_ts``
        (None; or its own ts once it has replies, as in Slack), ``text``, ``blocks``,
        ``attachments``, ``files`` and ``edits`` (chat.update count)."""
        with self._lock:
            return copy.deepcopy(self._messages.get(self.channel_id(channel), []))

    def top_level(self, channel: str) -> list[JSON]:
        """The channel's messages that are not thread replies, in post order."""
        return [m for m in self.messages(channel) if m["thread_ts"] in (None, m["ts"])]

    def thread(self, channel: str, ts: str) -> list[JSON]:
        """Replies to the message ``ts``, parent excluded."""
        return [m for m in self.messages(channel) if m["thread_ts"] == ts and m["ts"] != ts]

    def ephemerals(self, channel: str) -> list[JSON]:
        with self._lock:
            return copy.deepcopy(self._ephemeral.get(self.channel_id(channel), []))

    def uploads(self) -> list[UploadedFile]:
        """Every file announced via files.getUploadURLExternal, in order."""
        with self._lock:
            return [dataclasses.replace(f, channels=list(f.channels)) for f in self._files.values()]

    def shared_uploads(self) -> list[UploadedFile]:
        """The uploads that finished: bytes received and files.completeUploadExternal done."""
        return [f for f in self.uploads() if f.data is not None and f.channels]

    def response_url(self, name: str) -> str:
        """A ``response_url`` on this stand-in; what is POSTed to it goes to responses(name)."""
        with self._lock:
            self._responses.setdefault(name, [])
        return f"{self.url}/response/{quote(name, safe='')}"

    def responses(self, name: str) -> list[JSON]:
        with self._lock:
            return copy.deepcopy(self._responses.get(name, []))

    # -- behaviour ---------------------------------------------------------------
    def not_in_channel(self, channel: str) -> None:
        """Posts, ephemerals and file shares to ``channel`` answer ``not_in_channel``
        until the bot calls conversations.join."""
        with self._lock:
            self._not_in.add(self.channel_id(channel))

    def invite(self, channel: str) -> None:
        """Someone invites the bot to ``channel`` (``/invite @podmem``)."""
        with self._lock:
            self._not_in.discard(self.channel_id(channel))

    def metadata(self, channel: str, ts: str) -> JSON | None:
        """The metadata a message was posted with, if any."""
        with self._lock:
            return copy.deepcopy(self._metadata.get((self.channel_id(channel), ts)))

    def fail_next(
        self,
        method: str | None = None,
        *,
        status: int | None = None,
        times: int = 1,
        retry_after: int | None = 1,
        error: str | None = None,
    ) -> None:
        """The next ``times`` calls to ``method`` (None: any Web API method) fail.

        ``status`` defaults to 429 (with ``Retry-After: retry_after`` and error
        ``ratelimited``), or to 200 when ``error`` is given (a plain ``ok: false``).
        5xx answer ``{"ok": false, "error": error or "internal_error"}``. The pseudo
        methods ``"upload"`` (the upload URL) and ``"response_url"`` fail only when named.
        """
        status = status if status is not None else (429 if error is None else 200)
        if status == 200 and error is None:
            raise ValueError("a 200 fault needs an error")
        with self._lock:
            self._faults.append(_Fault(method, status, times, retry_after, error))

    def down(self, *, disconnect: bool = False) -> None:
        """Every request fails until up(): HTTP 503, or with ``disconnect`` the connection
        closes unanswered (``RemoteDisconnected``, which the SDK's default handler retries)."""
        with self._lock:
            self._down = _DROP if disconnect else _UNAVAILABLE

    def up(self) -> None:
        with self._lock:
            self._down = None

    def delay(self, seconds: float) -> None:
        """Every answer waits ``seconds`` (0 to stop): for client timeout tests."""
        with self._lock:
            self._delay = seconds

    # -- dispatch ------------------------------------------------------------------
    def _handle(self, path: str, headers: Message, body: bytes) -> tuple[_Reply, float]:
        at = time.monotonic()
        parts = urlsplit(path)
        route = unquote(parts.path)
        with self._lock:
            if route.startswith("/api/"):
                method = route.removeprefix("/api/")
                try:
                    args, token = _parse_request(parts.query, headers, body)
                except (ValueError, _ApiError):
                    args, token = {}, None
                    reply = _Reply(200, {"ok": False, "error": "invalid_json"})
                else:
                    reply = self._down or self._fault(method) or self._api(method, args, token)
                error = reply.body.get("error") if isinstance(reply.body, dict) else None
                self._calls.append(Call(method, args, token, at, reply.status, error))
            elif route.startswith("/upload/"):
                file_id = route.removeprefix("/upload/")
                reply = self._down or self._fault("upload") or self._upload(file_id, body)
            elif route.startswith("/response/"):
                name = route.removeprefix("/response/")
                reply = self._down or self._fault("response_url") or self._respond(name, body)
            else:
                reply = _Reply(404, "not found")
            return reply, self._delay

    def _fault(self, method: str) -> _Reply | None:
        for fault in self._faults:
            if fault.method == method or (fault.method is None and method not in _PSEUDO_METHODS):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                if fault.status == 429:
                    wait = fault.retry_after
                    after = {} if wait is None else {"Retry-After": str(wait)}
                    return _Reply(429, {"ok": False, "error": fault.error or "ratelimited"}, after)
                error = fault.error or _5XX_ERRORS.get(fault.status, "internal_error")
                return _Reply(fault.status, {"ok": False, "error": error})
        return None

    def _api(self, method: str, args: JSON, token: str | None) -> _Reply:
        handler = self._routes.get(method)
        if handler is None:
            return _Reply(200, {"ok": False, "error": "unknown_method", "req_method": method})
        if token is None:
            return _Reply(200, {"ok": False, "error": "not_authed"})
        if method in _APP_TOKEN_METHODS:
            if not token.startswith("xapp-"):
                return _Reply(200, {"ok": False, "error": "not_allowed_token_type"})
            if token not in self.app_tokens:
                return _Reply(200, {"ok": False, "error": "invalid_auth"})
            try:
                return _Reply(200, handler({**args, "token": token}))
            except _ApiError as exc:
                return _Reply(200, exc.body)
        if token not in self.valid_tokens:
            return _Reply(200, {"ok": False, "error": "invalid_auth"})
        try:
            return _Reply(200, handler(args))
        except _ApiError as exc:
            return _Reply(200, exc.body)

    # -- Web API methods (called with the lock held) ---------------------------------------
    def _channel(self, ref: Any, *, posting: bool) -> str:
        if not isinstance(ref, str) or not ref.strip():
            raise _ApiError("channel_not_found")
        cid = self.channel_id(ref)
        if self._known is not None and cid not in self._known:
            raise _ApiError("channel_not_found")
        if posting and cid in self._not_in:
            raise _ApiError("not_in_channel")
        return cid

    def _next_ts(self) -> str:
        us = _TS_ORIGIN_US + next(self._ts_seq) * 100
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _add_message(self, cid: str, args: JSON, files: list[JSON] | None = None) -> JSON:
        thread_ts = args.get("thread_ts") or None
        message: JSON = {
            "type": "message",
            "ts": self._next_ts(),
            "thread_ts": thread_ts,
            "text": args.get("text") or "",
            "blocks": args.get("blocks"),
            "attachments": args.get("attachments"),
            "files": files,
            "user": BOT["user_id"],
            "bot_id": BOT["bot_id"],
            "edits": 0,
        }
        parent = self._find(cid, thread_ts) if thread_ts else None
        if parent is not None:  # as in conversations.history: parents carry thread data
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
        self._messages.setdefault(cid, []).append(message)
        meta = args.get("metadata")
        if isinstance(meta, dict) and meta.get("event_type"):
            self._metadata[(cid, message["ts"])] = meta
        return message

    def _find(self, cid: str, ts: Any) -> JSON | None:
        return next((m for m in self._messages.get(cid, []) if m["ts"] == ts), None)

    def _post_message(self, args: JSON) -> JSON:
        cid = self._channel(args.get("channel"), posting=True)
        _check_content(args, required=True)
        message = self._add_message(cid, args)
        return {"ok": True, "channel": cid, "ts": message["ts"], "message": _public(message)}

    def _update(self, args: JSON) -> JSON:
        cid = self._channel(args.get("channel"), posting=False)
        message = self._find(cid, args.get("ts"))
        if message is None:
            raise _ApiError("message_not_found")
        _check_content(args, required=False)
        for key in ("text", "blocks", "attachments"):  # omitted blocks are kept, as in Slack
            if key in args:
                message[key] = args[key]
        message["edits"] += 1
        reply = {"ok": True, "channel": cid, "ts": message["ts"], "text": message["text"]}
        return reply | {"message": _public(message)}

    def _post_ephemeral(self, args: JSON) -> JSON:
        cid = self._channel(args.get("channel"), posting=True)
        if not args.get("user"):
            raise _missing("user")
        _check_content(args, required=True)
        ts = self._next_ts()
        stored = {"ts": ts, "user": args["user"], "text": args.get("text") or ""}
        self._ephemeral.setdefault(cid, []).append(stored | {"blocks": args.get("blocks")})
        return {"ok": True, "message_ts": ts}

    def _conversation_info(self, args: JSON) -> JSON:
        cid = self._channel(args.get("channel"), posting=False)
        name = self._names.get(cid, cid.lower())
        channel = {"id": cid, "name": name, "is_channel": True, "is_archived": False}
        return {"ok": True, "channel": channel | {"is_member": cid not in self._not_in}}

    def _conversation_list(self, args: JSON) -> JSON:
        """The channels this workspace has seen (or knows), `limit` a page, as Slack pages."""
        cids = sorted(self._known if self._known is not None else self._names)
        start = int(args.get("cursor") or 0)
        end = start + max(1, min(int(args.get("limit") or 100), 1000))
        page = [self._conversation_info({"channel": cid})["channel"] for cid in cids[start:end]]
        more = str(end) if end < len(cids) else ""
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": more}}

    def _readable(self, ref: Any) -> str:
        """History methods take a channel ID only (a ``#name`` is ``channel_not_found``)."""
        if not isinstance(ref, str) or not _CHANNEL_ID.match(ref):
            raise _ApiError("channel_not_found")
        cid = self._channel(ref, posting=False)
        if cid in self._not_in:
            raise _ApiError("not_in_channel")
        return cid

    def _shown(self, cid: str, message: JSON, with_metadata: bool) -> JSON:
        shown = _public(message)
        meta = self._metadata.get((cid, message["ts"]))
        if with_metadata and meta is not None:
            shown["metadata"] = copy.deepcopy(meta)
        return shown

    def _history(self, args: JSON) -> JSON:
        """Top-level messages (and thread parents), newest first, ``limit`` of them (100 by
        default, 999 at most); ``metadata`` only with ``include_all_metadata``. No cursor."""
        cid = self._readable(args.get("channel"))
        limit = min(int(args.get("limit") or 100), 999)
        with_metadata = str(args.get("include_all_metadata")).lower() in ("1", "true")
        top = [m for m in self._messages.get(cid, []) if m["thread_ts"] in (None, m["ts"])]
        newest = [self._shown(cid, m, with_metadata) for m in reversed(top)][:limit]
        return {"ok": True, "messages": newest, "has_more": len(top) > limit}

    def _replies(self, args: JSON) -> JSON:
        """The parent then its replies, oldest first, as Slack answers."""
        cid = self._readable(args.get("channel"))
        parent = self._find(cid, args.get("ts"))
        if parent is None:
            raise _ApiError("thread_not_found")
        limit = min(int(args.get("limit") or 1000), 1000)
        with_metadata = str(args.get("include_all_metadata")).lower() in ("1", "true")
        thread = [
            m
            for m in self._messages.get(cid, [])
            if m["ts"] == parent["ts"] or m["thread_ts"] == parent["ts"]
        ]
        shown = [self._shown(cid, m, with_metadata) for m in thread][:limit]
        return {"ok": True, "messages": shown, "has_more": len(thread) > limit}

    def _join(self, args: JSON) -> JSON:
        cid = self._channel(args.get("channel"), posting=False)
        self._not_in.discard(cid)
        return self._conversation_info({"channel": cid})

    def _get_upload_url(self, args: JSON) -> JSON:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            raise _missing(*(k for k in ("filename", "length") if not args.get(k)))
        file_id = f"F{next(self._file_seq):010d}"
        self._files[file_id] = UploadedFile(file_id, str(args["filename"]), int(args["length"]))
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: JSON) -> JSON:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise _missing("files")
        targets = [args["channel_id"]] if args.get("channel_id") else []
        targets += [c for c in str(args.get("channels") or "").split(",") if c]
        cids = [self._channel(t, posting=True) for t in targets]
        uploads = []
        for entry in entries:  # check everything before changing anything
            upload = self._files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
            if upload is None or upload.data is None:  # unknown, or bytes never POSTed
                raise _ApiError("file_not_found")
            uploads.append((upload, entry.get("title") or upload.filename))
        shared = []
        for upload, title in uploads:
            upload.title, upload.thread_ts = title, args.get("thread_ts") or None
            upload.channels += cids
            size = len(upload.data or b"")
            shared.append({"id": upload.id, "name": upload.filename, "title": title, "size": size})
        comment = {"text": args.get("initial_comment"), "thread_ts": args.get("thread_ts")}
        if not args.get("initial_comment"):  # Slack ignores blocks when there is a comment
            comment["blocks"] = args.get("blocks")
        for cid in cids:
            self._add_message(cid, comment, files=copy.deepcopy(shared))
        return {"ok": True, "files": [{"id": f["id"], "title": f["title"]} for f in shared]}

    def _connections_open(self, args: JSON) -> JSON:
        if self.socket_mode_link is None:
            raise _ApiError("internal_error", detail="no SocketModeStandIn attached")
        return {"ok": True, "url": self.socket_mode_link(args["token"])}

    def _files_upload_v1(self, args: JSON) -> JSON:
        raise _ApiError("method_deprecated")  # retired by Slack; files_upload_v2 replaces it

    # -- non-API endpoints -----------------------------------------------------------
    def _upload(self, file_id: str, body: bytes) -> _Reply:
        upload = self._files.get(file_id)
        if upload is None:
            return _Reply(404, "file not found")
        upload.data = body
        return _Reply(200, f"OK - {len(body)}")  # Slack's upload host answers exactly this

    def _respond(self, name: str, body: bytes) -> _Reply:
        posted = self._responses.get(name)
        if posted is None:
            return _Reply(404, {"ok": False, "error": "expired_url"})
        if len(posted) >= MAX_RESPONSE_URL_POSTS:
            return _Reply(404, {"ok": False, "error": "used_url"})
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return _Reply(400, {"ok": False, "error": "invalid_payload"})
        posted.append(payload)
        return _Reply(200, {"ok": True})

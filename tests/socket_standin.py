"""A Slack Socket Mode stand-in for tests.

``SocketModeStandIn`` is a WebSocket server (aiohttp, on 127.0.0.1, in its own thread with
its own event loop) that the real, unpatched Socket Mode clients connect to as they would to
Slack. Attached to a ``SlackStandIn``, it serves that stand-in's ``apps.connections.open``::

    with SlackStandIn() as slack, SocketModeStandIn(slack) as socket:
        app = App(client=slack.client())          # no signing secret: Socket Mode skips it
        handler = SocketModeHandler(app, app_token="xapp-test")
        handler.connect()                         # returns at once; threads do the rest
        socket.wait_connected()
        envelope_id = socket.send_slash_command(text="shop/api", response_url=...)
        ack = socket.wait_ack(envelope_id)        # ack.acked_after < 3.0: Slack's deadline
        handler.close()                           # before the stand-ins stop

The recipe, as slack_bolt 1.30 / slack_sdk 3.48 read:
- ``App(client=WebClient(token="xoxb-test", base_url=slack.api_url))`` (``slack.client()``):
  Bolt calls ``auth.test`` on it at construction, and listeners' ``client``/``say`` use it.
- ``SocketModeHandler(app, app_token="xapp-test")`` builds the builtin
  ``slack_sdk.socket_mode.SocketModeClient`` with ``web_client=app.client`` unless
  ``web_client=`` is given, so ``apps.connections.open`` goes to the same stand-in, with
  the app token passed per call (``Authorization: Bearer xapp-...``). The app token must be in
  ``SlackStandIn(app_tokens=...)`` (default ``("xapp-test",)``). The plain client is wired
  the same way: ``SocketModeClient(app_token="xapp-test", web_client=slack.client())``.
- ``respond()`` POSTs to the payload's ``response_url`` with a fresh ``WebhookClient``, so a
  ``slack.response_url(name)`` URL lands in ``slack.responses(name)``.

What Slack does and this serves: ``apps.connections.open`` answers
``ws://127.0.0.1:PORT/link/?ticket=...&app_id=...`` (Slack: ``wss://wss-....slack.com/link/...``);
each ticket opens one connection, a reused or unknown one is refused (HTTP 401 here; Slack's
status is not documented). On connect the server sends ``hello`` (``num_connections``,
``debug_info``, ``connection_info.app_id``). Envelopes are ``{"envelope_id", "type",
"payload", "accepts_response_payload"}`` (events also ``retry_attempt``/``retry_reason``); a
slash command's payload is the HTTP form's fields as a JSON object of strings. The client acks
with ``{"envelope_id"}`` plus an optional ``payload``. Client pings get pongs and the server
pings too. Before Slack closes a connection it sends ``{"type": "disconnect", "reason": ...}``
(``warning``, ``refresh_requested``, ``link_disabled``) and leaves the client a moment to
open a new one. Not modelled: redelivery of unacked envelopes, Slack's refresh every few
hours, spreading envelopes over several connections (the newest one gets them all).

How the builtin client (``SocketModeHandler``'s) behaves, which tests depend on:
- It connects without TLS to any port but 443, and pings on connect, then every
  ``ping_interval`` (``SocketModeHandler`` default 10 s, ``SocketModeClient`` 5 s).
- On a ``disconnect`` message it reconnects at once (``apps.connections.open`` again, a new
  connection), then closes the old one itself. On a bare close frame (``reason=None``) it
  does *not* reconnect at once (its close handler still sees the socket as open); its monitor
  does, on the next ``ping_interval`` tick. On a TCP close without close frame
  (``drop=True``) its receive thread spins on ``recv() == b""`` at full CPU until five pings
  in a row fail: 5 x ``ping_interval`` (50 s with the handler's default). So pass a small
  ``ping_interval`` to the handler when a test needs those paths.
- ``handler.close()`` takes up to ~1 s: its message thread polls a queue with a 1 s timeout,
  and its receive thread notices only when ``recv`` returns (at the next frame, else after a
  3 s socket timeout; the stand-in's pings, every 0.25 s by default, keep that short).
- Its threads are unnamed (``Thread-N (_run)``, ``ThreadPoolExecutor-N_M``); Bolt's
  ``App`` keeps its listener ``ThreadPoolExecutor`` thread after ``handler.close()``. This
  stand-in's one thread is ``socket-mode-standin``; stop() joins it and closes its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSCloseCode, WSMsgType, web

from tests.slack_standin import BOT, SlackStandIn

JSON = dict[str, Any]
T = TypeVar("T")

APP_ID = "A0PODMEM01"
VERIFICATION_TOKEN = "podmemVerificationToken1"  # the deprecated per-payload ``token``
HOST = "applink-standin"
DISCONNECT_REASONS = ("warning", "refresh_requested", "link_disabled")


@dataclass(frozen=True)
class Ack:
    """An acknowledgement as the client sent it, with the stand-in's measurements."""

    envelope_id: str
    payload: JSON | None  # the optional response payload (e.g. ``ack("text")``)
    message: JSON  # the JSON object exactly as received
    acked_after: float | None  # seconds from sending the envelope; None if never sent
    connection: int  # number of the connection it came in on (1, 2, ...)


@dataclass
class _Link:
    number: int
    ws: web.WebSocketResponse
    transport: asyncio.BaseTransport | None
    app_token: str
    done: asyncio.Event = field(default_factory=asyncio.Event)


async def _wait_done(links: list[_Link], timeout: float) -> None:
    waiters = [asyncio.ensure_future(link.done.wait()) for link in links]
    if timeout > 0:
        await asyncio.wait(waiters, timeout=timeout)
    for waiter in waiters:
        waiter.cancel()


class SocketModeStandIn:
    """A Socket Mode WebSocket endpoint on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        slack: SlackStandIn | None = None,
        *,
        app_id: str = APP_ID,
        ping_interval: float | None = 0.25,
    ) -> None:
        """``slack``: the Slack stand-in whose ``apps.connections.open`` hands out this
        server's URLs. ``ping_interval``: the server pings each connection this often (Slack
        pings too); None for never. Frequent pings also let ``handler.close()`` return fast:
        the builtin client's receive thread otherwise waits out its 3 s socket timeout."""
        self.slack = slack
        self.app_id = app_id
        self.ping_interval = ping_interval
        self._cond = threading.Condition()
        self._tickets: dict[str, str] = {}  # unused ticket -> app token
        self._links: dict[int, _Link] = {}  # open connections by number
        self._numbers = itertools.count(1)
        self._connects = 0
        self._refused = 0
        self._pings = 0
        self._pongs = 0
        self._sent: dict[str, float] = {}  # envelope id -> monotonic send time
        self._envelopes: list[JSON] = []
        self._acks: list[Ack] = []
        self._received: list[str] = []  # client text frames that were not acks
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> SocketModeStandIn:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=self._serve, args=(loop,), daemon=True, name="socket-mode-standin"
        )
        self._thread.start()
        try:
            self._call(self._setup(), timeout=5)
        except BaseException:
            self.stop()
            raise
        if self.slack is not None:
            self.slack.socket_mode_link = self.issue_url
        return self

    def stop(self) -> None:
        """Closes every connection (close frame 1001, no ``disconnect`` message), stops the
        server and its thread, and closes the loop."""
        if self.slack is not None and self.slack.socket_mode_link == self.issue_url:
            self.slack.socket_mode_link = None
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            self._call(self._teardown(), timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        self._loop = self._thread = None

    def __enter__(self) -> SocketModeStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Runs ``coro`` on the server's loop and waits for its result."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("SocketModeStandIn is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _setup(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._link)
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def _teardown(self) -> None:
        await self._close_links(None, code=WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- addresses ---------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        """The endpoint, without a ticket (it refuses connections that have none)."""
        if self._loop is None:
            raise RuntimeError("SocketModeStandIn is not started")
        return f"ws://127.0.0.1:{self._port}/link/"

    def issue_url(self, app_token: str) -> str:
        """A single-use URL, as ``apps.connections.open`` answers (the Slack stand-in calls
        this; call it yourself to connect without one)."""
        ticket = str(uuid.uuid4())
        with self._cond:
            self._tickets[ticket] = app_token
        app_hash = hashlib.sha256(self.app_id.encode()).hexdigest()
        return f"{self.ws_url}?ticket={ticket}&app_id={app_hash}"

    # -- inspection ---------------------------------------------------------------
    @property
    def connections(self) -> int:
        """Connections open now."""
        with self._cond:
            return len(self._links)

    @property
    def connects(self) -> int:
        """Connections ever accepted (each got a ``hello``)."""
        with self._cond:
            return self._connects

    @property
    def refused(self) -> int:
        """Handshakes refused for a missing, unknown or reused ticket."""
        with self._cond:
            return self._refused

    @property
    def pings(self) -> int:
        """Ping frames from clients (each answered with a pong carrying its payload)."""
        with self._cond:
            return self._pings

    @property
    def pongs(self) -> int:
        """Pong frames from clients (answers to the server's pings and ping_all())."""
        with self._cond:
            return self._pongs

    @property
    def acks(self) -> list[Ack]:
        with self._cond:
            return list(self._acks)

    @property
    def envelopes(self) -> list[JSON]:
        """Every envelope sent, in order."""
        with self._cond:
            return copy.deepcopy(self._envelopes)

    @property
    def received(self) -> list[str]:
        """Text frames from clients that were not acks (Slack would ignore them)."""
        with self._cond:
            return list(self._received)

    def wait_connected(self, *, after: int = 0, timeout: float = 60.0) -> int:
        """Waits for an open connection numbered above ``after``; returns the newest one's
        number. ``n = wait_connected(); disconnect_all(); wait_connected(after=n)``."""

        def newest() -> int:
            return max((n for n in self._links if n > after), default=0)

        with self._cond:
            if not self._cond.wait_for(newest, timeout):
                raise TimeoutError(f"no Socket Mode connection after #{after} within {timeout}s")
            return newest()

    def wait_ack(self, envelope_id: str, timeout: float = 60.0) -> Ack:
        """The client's ack of ``envelope_id``; TimeoutError if none comes in time."""

        def found() -> Ack | None:
            return next((a for a in self._acks if a.envelope_id == envelope_id), None)

        with self._cond:
            ack = self._cond.wait_for(found, timeout)
        if ack is None:
            raise TimeoutError(f"no ack for envelope {envelope_id} within {timeout}s")
        return ack

    # -- sending -------------------------------------------------------------------
    def send_envelope(
        self,
        type: str,
        payload: JSON,
        *,
        accepts_response_payload: bool = False,
        envelope_id: str | None = None,
        timeout: float = 60.0,
        **extra: Any,
    ) -> str:
        """Sends ``payload`` in an envelope (``extra`` adds top-level fields) to the newest
        connection, waiting up to ``timeout`` for one; returns the envelope id."""
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": type,
            "accepts_response_payload": accepts_response_payload,
            **extra,
        }
        number = self.wait_connected(timeout=timeout)
        self._call(self._send_envelope(number, envelope), timeout)
        return envelope_id

    def send_slash_command(
        self,
        command: str = "/podmem",
        text: str = "",
        *,
        user_id: str = "U0PODMEMUSR",
        user_name: str = "tester",
        channel_id: str | None = None,
        channel_name: str = "general",
        response_url: str | None = None,
        trigger_id: str | None = None,
        timeout: float = 60.0,
    ) -> str:
        """A slash command as Slack sends it in Socket Mode; returns the envelope id.

        ``channel_id`` defaults to ``slack.channel_id(channel_name)``. ``response_url``
        defaults to ``slack.response_url(<the envelope id>)`` when a Slack stand-in is
        attached, so ``slack.responses(envelope_id)`` holds what ``respond()`` posted.
        """
        envelope_id = str(uuid.uuid4())
        if response_url is None:
            response_url = (
                self.slack.response_url(envelope_id)
                if self.slack is not None
                else f"https://hooks.slack.com/commands/{BOT['team_id']}/1/{envelope_id}"
            )
        payload = {
            "token": VERIFICATION_TOKEN,
            "team_id": BOT["team_id"],
            "team_domain": BOT["team"],
            "channel_id": channel_id or self._channel_id(channel_name),
            "channel_name": channel_name.removeprefix("#"),
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id or self._trigger_id(),
        }
        return self.send_envelope(
            "slash_commands",
            payload,
            accepts_response_payload=True,
            envelope_id=envelope_id,
            timeout=timeout,
        )

    def block_actions_payload(
        self,
        action_id: str,
        *,
        value: str = "",
        block_id: str = "actions",
        user_id: str = "U0PODMEMUSR",
        user_name: str = "tester",
        channel_id: str | None = None,
        channel_name: str = "general",
        message_ts: str = "1700000000.000100",
        response_url: str | None = None,
    ) -> JSON:
        """A ``block_actions`` payload for a button click on a bot message."""
        channel = channel_id or self._channel_id(channel_name)
        if response_url is None:
            response_url = (
                self.slack.response_url(f"action-{action_id}-{message_ts}")
                if self.slack is not None
                else f"https://hooks.slack.com/actions/{BOT['team_id']}/1/{action_id}"
            )
        return {
            "type": "block_actions",
            "user": {
                "id": user_id,
                "username": user_name,
                "name": user_name,
                "team_id": BOT["team_id"],
            },
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": self._trigger_id(),
            "team": {"id": BOT["team_id"], "domain": BOT["team"]},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": channel_name.removeprefix("#")},
            "message": {
                "type": "message",
                "ts": message_ts,
                "user": BOT["user_id"],
                "bot_id": BOT["bot_id"],
                "text": "",
            },
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": {"type": "plain_text", "text": action_id, "emoji": True},
                    "value": value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    def send_block_action(self, payload: JSON, *, timeout: float = 60.0) -> str:
        """Sends an ``interactive`` envelope (see block_actions_payload()); Slack sets
        ``accepts_response_payload`` only for payloads whose ack can carry a response."""
        accepts = payload.get("type") in ("view_submission", "block_suggestion")
        return self.send_envelope(
            "interactive", payload, accepts_response_payload=accepts, timeout=timeout
        )

    def send_event(
        self, event: JSON, *, retry_attempt: int = 0, retry_reason: str = "", timeout: float = 60.0
    ) -> str:
        """Sends ``event`` (e.g. ``{"type": "app_mention", ...}``) as an ``events_api``
        envelope around an ``event_callback``."""
        now = int(time.time())
        payload = {
            "token": VERIFICATION_TOKEN,
            "team_id": BOT["team_id"],
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": BOT["team_id"],
                    "user_id": BOT["user_id"],
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{uuid.uuid4().hex}",
        }
        return self.send_envelope(
            "events_api",
            payload,
            accepts_response_payload=False,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
            timeout=timeout,
        )

    def disconnect_all(
        self, reason: str | None = "refresh_requested", *, grace: float = 1.0, drop: bool = False
    ) -> int:
        """Ends every open connection; returns how many there were, once all are closed.

        With a ``reason``, Slack's ``{"type": "disconnect", "reason": ...}`` goes first and
        the client has ``grace`` seconds to close the connection itself (the SDK clients
        reconnect, then close the old one); whatever is still open then gets a close frame
        (1001). ``reason=None``: the close frame at once. ``drop=True``: the TCP connection
        closes with neither message nor close frame, as when Slack's end dies.
        """
        if reason is not None and reason not in DISCONNECT_REASONS:
            raise ValueError(f"Slack's disconnect reasons are {DISCONNECT_REASONS}")
        return self._call(self._close_links(reason, drop=drop, grace=grace), grace + 5)

    def ping_all(self, payload: bytes = b"standin") -> int:
        """Pings every open connection (clients answer with pongs, counted in ``pongs``)."""
        return self._call(self._ping_all(payload), timeout=60)

    # -- helpers -----------------------------------------------------------------------
    def _channel_id(self, name: str) -> str:
        if self.slack is not None:
            return self.slack.channel_id(name)
        digest = hashlib.sha1(name.removeprefix("#").lower().encode(), usedforsecurity=False)
        return "C" + digest.hexdigest()[:10].upper()

    @staticmethod
    def _trigger_id() -> str:
        return f"{int(time.time())}.{BOT['team_id'][1:]}.{uuid.uuid4().hex}"

    # -- on the server's loop -----------------------------------------------------------
    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._cond:
            app_token = self._tickets.pop(ticket, None)
            if app_token is None:
                self._refused += 1
        if app_token is None:
            return web.Response(status=401, text="invalid or used ticket")
        ws = web.WebSocketResponse(autoping=False, timeout=1.0)
        await ws.prepare(request)
        link = _Link(next(self._numbers), ws, request.transport, app_token)
        with self._cond:
            hello = {
                "type": "hello",
                "num_connections": len(self._links) + 1,
                "debug_info": {
                    "host": f"{HOST}-{link.number}",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        pinger = asyncio.create_task(self._ping_every(ws)) if self.ping_interval else None
        try:
            await ws.send_str(json.dumps(hello))
            with self._cond:
                self._links[link.number] = link
                self._connects += 1
                self._cond.notify_all()
            async for msg in ws:
                if msg.type is WSMsgType.PING:
                    with self._cond:
                        self._pings += 1
                    await ws.pong(msg.data)
                elif msg.type is WSMsgType.PONG:
                    with self._cond:
                        self._pongs += 1
                elif msg.type is WSMsgType.TEXT:
                    self._on_text(link, msg.data)
                elif msg.type is WSMsgType.ERROR:
                    break
        except ConnectionError:
            pass  # the client went away mid-write
        finally:
            if pinger is not None:
                pinger.cancel()
            with self._cond:
                self._links.pop(link.number, None)
                self._cond.notify_all()
            link.done.set()
        return ws

    def _on_text(self, link: _Link, text: str) -> None:
        arrived = time.monotonic()
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        with self._cond:
            if not isinstance(message, dict) or not isinstance(message.get("envelope_id"), str):
                self._received.append(text)
                return
            envelope_id = message["envelope_id"]
            sent = self._sent.get(envelope_id)
            payload = message.get("payload")
            self._acks.append(
                Ack(
                    envelope_id=envelope_id,
                    payload=payload if isinstance(payload, dict) else None,
                    message=message,
                    acked_after=None if sent is None else arrived - sent,
                    connection=link.number,
                )
            )
            self._cond.notify_all()

    async def _send_envelope(self, number: int, envelope: JSON) -> None:
        with self._cond:
            link = self._links.get(number)
        if link is None:
            raise ConnectionError(f"Socket Mode connection #{number} closed before sending")
        data = json.dumps(envelope)
        with self._cond:
            self._sent[envelope["envelope_id"]] = time.monotonic()
            self._envelopes.append(copy.deepcopy(envelope))
        await link.ws.send_str(data)

    async def _close_links(
        self, reason: str | None, *, drop: bool = False, grace: float = 0.0, code: int = 1001
    ) -> int:
        with self._cond:
            links = list(self._links.values())
        if not links:
            return 0
        if drop:
            for link in links:
                if isinstance(link.transport, asyncio.Transport):
                    link.transport.abort()
        else:
            if reason is not None:
                for link in links:
                    message = {
                        "type": "disconnect",
                        "reason": reason,
                        "debug_info": {"host": f"{HOST}-{link.number}"},
                    }
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await link.ws.send_str(json.dumps(message))
                await _wait_done(links, grace)  # clients that reconnect close the old link
            for link in links:
                if not link.done.is_set():
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await link.ws.close(code=code)
        await _wait_done(links, 3.0)
        return len(links)

    async def _ping_every(self, ws: web.WebSocketResponse) -> None:
        assert self.ping_interval is not None
        with contextlib.suppress(ConnectionError, RuntimeError):
            while not ws.closed:
                await asyncio.sleep(self.ping_interval)
                await ws.ping(f"standin:{time.time()}".encode())

    async def _ping_all(self, payload: bytes) -> int:
        with self._cond:
            links = list(self._links.values())
        for link in links:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await link.ws.ping(payload)
        return len(links)


__all__ = ["APP_ID", "Ack", "SocketModeStandIn"]

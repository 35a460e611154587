"""Sending one notification to the Slack Web API, with the SDK's retry handlers."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.delivery.outbox import SendResult
from bot.errors import SlackUnavailable
from bot.render.compose import SlackCall, SlackComposer
from bot.settings import Settings
from bot.state.document import MessageRef, Notification

if TYPE_CHECKING:  # drawing pulls in matplotlib: only senders that draw import it
    from bot.delivery.charts import ChartMaker

log = logging.getLogger(__name__)
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{8,}$")

# Errors no retry can fix: the notification is kept as a dead letter and the queue moves on.
# Auth errors are NOT here: a fixed token must still deliver everything that waited.
PERMANENT_ERRORS = frozenset(
    {
        "is_archived",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "restricted_action",
    }
)


# A channel the bot is not in (or, private, cannot see): inviting it is the fix, so its
# notices wait for that, not die.
UNREACHABLE_ERRORS = frozenset({"channel_not_found", "not_in_channel"})
# Podmem's posts carry this metadata, so one that may have gone can be found again.
EVENT_TYPE = "podmem_notice"
# How far back a lookup reads: a post that timed out is among the channel's newest.
LOOKUP_MESSAGES = 200


# Slack's answers to a token it does not accept.
AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)


def check_slack(client: WebClient, settings: Settings) -> None:
    """At start-up: is Slack reachable, and does it accept the bot token? One clear line if
    not, rather than a bot that runs and silently says nothing."""
    try:
        client.auth_test()
    except SlackApiError as error:
        code = str(error.response.get("error", "")) or f"HTTP {error.response.status_code}"
        raise SlackUnavailable(refused("SLACK_BOT_TOKEN", code)) from None
    except (SlackClientError, OSError) as error:
        raise SlackUnavailable(
            f"cannot reach Slack at {settings.slack_api_url} ({type(error).__name__}: "
            f"{str(error)[:120]}): check the network, a proxy, or slack_api_url"
        ) from None


def refused(token: str, code: str) -> str:
    """What to say when Slack refuses one of podmem's tokens."""
    kind = (
        "an app-level xapp- token with connections:write"
        if "APP" in token
        else ("the xoxb- bot token of the installed app")
    )
    if code in AUTH_ERRORS or code == "not_allowed_token_type":
        return f"Slack refused {token} ({code}): it must be {kind}"
    return f"Slack did not accept {token} ({code})"


class ChartUnavailable(RuntimeError):
    """The chart cannot be drawn now; the upload waits for the next drain."""


class NoChart(RuntimeError):
    """There is nothing to draw, or nothing to draw with: give up on this upload."""


def slack_client(settings: Settings) -> WebClient:
    """The one way podmem talks to the Slack Web API (configurable base URL, retries)."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=int(settings.slack_timeout_seconds),
        # 429: wait the Retry-After Slack asks for; 5xx and resets: short backoff. What still
        # fails stays in the outbox and is retried by the next drain.
        retry_handlers=[
            CappedRateLimitHandler(settings.retry_after_max_seconds, max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )


class CappedRateLimitHandler(RateLimitErrorRetryHandler):
    """The SDK's 429 handler, but a Retry-After past the cap is not waited for in this
    check: the notice stays first in the outbox and the next check tries again."""

    def __init__(self, cap_seconds: float, *, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.cap_seconds = cap_seconds

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        asked = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), ["1"])
        try:
            seconds = float(asked[0])
        except (ValueError, IndexError):
            seconds = 1.0  # a malformed header: wait as if none was given
        return seconds <= self.cap_seconds


def metadata(note: Notification) -> dict[str, Any]:
    """What podmem attaches to each message it posts: which notice, which part of it."""
    return {
        "event_type": EVENT_TYPE,
        "event_payload": {
            "id": note.id,
            "part": note.parts_sent,
            "created_at": int(note.created_at),
        },
    }


class SlackSender:
    """Sends notifications; paces each channel to about one message per second."""

    def __init__(
        self,
        settings: Settings,
        *,
        charts: ChartMaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = slack_client(settings)
        self.interval = settings.slack_channel_interval_seconds
        self.charts = charts
        self._sleep, self._clock = sleep, clock
        self._last_sent: dict[str, float] = {}
        self.composer = SlackComposer(settings)
        # Each pending notice's calls, rendered once per drain.
        self._calls: dict[str, list[SlackCall]] = {}

    def prepare(self, pending: Sequence[Notification]) -> None:
        """Render what is pending once, and fetch its charts' histories together."""
        self._calls = {note.id: self._compose(note) for note in pending}
        if self.charts is not None:
            self.charts.prefetch(
                call.chart
                for note in pending
                for call in self._calls[note.id][note.parts_sent :]
                if call.chart is not None and call.action == "upload"
            )

    def send(
        self, note: Notification, message: MessageRef | None, *, channel_id: str | None = None
    ) -> SendResult:
        calls = self._calls.get(note.id) or self._compose(note)
        if note.parts_sent >= len(calls):
            return SendResult(ok=True)  # nothing left to say (a legacy part already sent)
        call = calls[note.parts_sent]
        more = note.parts_sent + 1 < len(calls)
        if call.action != "post" and message is None:
            return SendResult(
                ok=False, error="its message was never posted", permanent=True, more=more
            )
        # Edits and replies go where the post went: Slack's channel ID, which uploads require.
        channel = message.channel if message is not None and call.action != "post" else note.channel
        ts = message.ts if message is not None else None
        self._pace(channel)
        courtesy = call.action == "upload"
        posting = call.action in ("post", "reply")
        try:
            found = self._posted_before(note, call, channel_id or channel, ts)
            if found is not None:
                if not more:
                    self._calls.pop(note.id, None)
                return SendResult(
                    ok=True, ts=found, channel=channel_id, more=more, posted=call.action == "post"
                )
            response = self._call(call, channel, ts, metadata(note) if posting else None)
        except SlackApiError as error:
            code = str(error.response.get("error", "")) or f"HTTP {error.response.status_code}"
            if code in AUTH_ERRORS:  # waits in the outbox until the token is fixed
                return SendResult(ok=False, error=refused("SLACK_BOT_TOKEN", code), more=more)
            return SendResult(
                ok=False,
                error=code,
                permanent=code in PERMANENT_ERRORS,
                more=more,
                courtesy=courtesy,
                unreachable=code in UNREACHABLE_ERRORS and not courtesy,
            )
        except TimeoutError as error:  # sent, and no answer: Slack may have taken it
            return SendResult(
                ok=False,
                error=f"no answer from Slack within its timeout ({error or 'timed out'})",
                more=more,
                courtesy=courtesy,
                uncertain=posting,
            )
        except NoChart as error:
            return SendResult(ok=False, error=str(error), permanent=True, more=more, courtesy=True)
        except ChartUnavailable as error:
            return SendResult(ok=False, error=str(error), more=more, courtesy=True)
        except (SlackClientError, OSError) as error:
            return SendResult(ok=False, error=f"{type(error).__name__}: {error}", more=more)
        finally:
            self._last_sent[channel] = self._clock()
        if not more:
            self._calls.pop(note.id, None)
        data: dict[str, Any] = response.data if isinstance(response.data, dict) else {}
        return SendResult(
            ok=True,
            ts=data.get("ts") or ts,
            channel=data.get("channel"),
            more=more,
            posted=call.action == "post",
        )

    def _compose(self, note: Notification) -> list[SlackCall]:
        return self.composer.calls(note.notice, note.channel)

    def _posted_before(
        self, note: Notification, call: SlackCall, channel: str, ts: str | None
    ) -> str | None:
        """For a notice that may have gone: the ts of its post, if Slack has it. Without a
        channel ID or the history scope it cannot be looked up: it is posted again (at most
        once more, the honest bound)."""
        if not note.maybe_sent or call.action not in ("post", "reply"):
            return None
        if not _CHANNEL_ID.match(channel):
            log.warning("notice %s may have been posted; no channel ID to look it up", note.id)
            return None
        try:
            if call.action == "post":
                answer = self.client.conversations_history(
                    channel=channel, limit=LOOKUP_MESSAGES, include_all_metadata=True
                )
            else:
                answer = self.client.conversations_replies(
                    channel=channel, ts=ts or "", limit=LOOKUP_MESSAGES, include_all_metadata=True
                )
        except SlackApiError as error:
            code = str(error.response.get("error", ""))
            if code in AUTH_ERRORS or code in UNREACHABLE_ERRORS:
                raise
            log.warning("notice %s may have been posted; cannot look it up (%s)", note.id, code)
            return None
        wanted = metadata(note)
        for found in answer.get("messages") or []:
            meta = found.get("metadata") if isinstance(found, dict) else None
            if (
                isinstance(meta, dict)
                and meta.get("event_type") == EVENT_TYPE
                and meta.get("event_payload") == wanted["event_payload"]
            ):
                log.info("notice %s had been posted after all: not posted again", note.id)
                return str(found.get("ts"))
        return None

    def _call(
        self, call: SlackCall, channel: str, ts: str | None, meta: dict[str, Any] | None
    ) -> Any:
        if call.action == "upload":
            return self._upload(call, channel, ts)
        if call.action == "post":
            return self.client.chat_postMessage(
                channel=channel,
                text=call.text,
                blocks=call.blocks,
                unfurl_links=False,
                metadata=meta,
            )
        if ts is None:
            raise ValueError("an update or reply needs the ts of its message")
        if call.action == "update":
            return self.client.chat_update(
                channel=channel, ts=ts, text=call.text, blocks=call.blocks
            )
        return self.client.chat_postMessage(
            channel=channel,
            thread_ts=ts,
            text=call.text,
            blocks=call.blocks,
            reply_broadcast=call.broadcast or None,
            metadata=meta,
        )

    def _upload(self, call: SlackCall, channel: str, ts: str | None) -> Any:
        if call.chart is None or self.charts is None:
            raise NoChart("this podmem cannot draw charts here")
        png = self.charts(call.chart)
        if png is None:
            raise ChartUnavailable("chart data not readable now")
        c = call.chart
        # files_upload_v2 needs the channel ID: the one Slack returned for the post.
        return self.client.files_upload_v2(
            channel=channel,
            thread_ts=ts,
            file=png,
            filename=f"podmem-{c.namespace}-{c.pod}-{c.container}.png",
            title=f"Memory of {c.namespace}/{c.pod} · {c.container}",
        )

    def _pace(self, channel: str) -> None:
        last = self._last_sent.get(channel)
        if last is not None:
            wait = last + self.interval - self._clock()
            if wait > 0:
                self._sleep(wait)

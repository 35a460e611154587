"""Sending one notification to the Slack Web API, with the SDK's retry handlers."""

from __future__ import annotations

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

from bot.delivery.outbox import SendResult
from bot.errors import SlackUnavailable
from bot.render.compose import SlackCall, SlackComposer
from bot.settings import Settings
from bot.state.document import MessageRef, Notification

if TYPE_CHECKING:  # drawing pulls in matplotlib: only senders that draw import it
    from bot.delivery.charts import ChartMaker

# Errors no retry can fix: the notification is kept as a dead letter and the queue moves on.
# Auth errors are NOT here: a fixed token must still deliver everything that waited.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
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
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )


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

    def send(self, note: Notification, message: MessageRef | None) -> SendResult:
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
        try:
            response = self._call(call, channel, ts)
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

    def _call(self, call: SlackCall, channel: str, ts: str | None) -> Any:
        if call.action == "upload":
            return self._upload(call, channel, ts)
        if call.action == "post":
            return self.client.chat_postMessage(
                channel=channel, text=call.text, blocks=call.blocks, unfurl_links=False
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

"""The Bolt app: `/podmem` and the buttons, the same listeners in Socket Mode and HTTP mode.

Every request is acknowledged on the thread that received it, before any work (Slack allows
3 s; a report needs more), and the work runs after on Bolt's workers as a lazy listener. An
ack called inside the work would wait for a free worker: under 200 concurrent requests, behind
report work (p99 1.1 s). In HTTP mode the server acks a verified command or click even before
Bolt sees it (bot/health.py); in Socket Mode `_ack` does.

Every button is held to the same access rule as `/podmem` and counts against the same
per-user rate: a button's value is the client's word, never proof that it may act.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.delivery.charts import ChartMaker
from bot.errors import InputError
from bot.model import ContainerRef
from bot.render.messages import SILENCE_MARK, Renderer
from bot.render.slack import context, fit
from bot.settings import Settings
from bot.silences import apply_button, remove_silence_by_id
from bot.slack_app.access import RateLimiter
from bot.slack_app.answers import Answers, Asker, Reply
from bot.state.document import Silence, State
from bot.state.store import StateStore, transact

log = logging.getLogger(__name__)
NO_CHANNEL = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
RESPONSE_URL_USES = 5


def _asker(body: dict[str, Any]) -> Asker:
    """Slash commands carry flat fields; interactions nest them. The channel's name is not
    read: rules match IDs, and a name is whatever a channel is called today."""
    user = body.get("user_id") or (body.get("user") or {}).get("id", "")
    channel = body.get("channel_id") or (body.get("channel") or {}).get("id", "")
    return Asker(user_id=str(user), channel_id=str(channel))


def _ack(ack: Ack) -> None:
    ack()


def _button(body: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The action and its value: a button's own, or the option chosen in an overflow menu."""
    action = body["actions"][0]
    value = action["selected_option"]["value"] if "selected_option" in action else action["value"]
    return str(action["action_id"]), json.loads(value)


class Listeners:
    def __init__(
        self,
        *,
        settings: Settings,
        client: WebClient,
        answers: Answers,
        store: StateStore,
        charts: ChartMaker,
    ) -> None:
        self.client, self.answers, self.store, self.charts = client, answers, store, charts
        self.settings = settings
        self.rate = RateLimiter(settings.slash_rate_per_minute)
        self.render = Renderer(settings)

    def register(self, app: App) -> None:
        app.command("/podmem")(ack=_ack, lazy=[self.podmem])
        app.action(re.compile(r"^podmem_(report|pick_\d+)$"))(ack=_ack, lazy=[self.full_report])
        app.action("podmem_share")(ack=_ack, lazy=[self.share])
        app.action(
            re.compile(r"^podmem_(snooze_1h|snooze_24h|snooze_container|mute_workload|unmute)$")
        )(ack=_ack, lazy=[self.silence])
        app.action("podmem_unsilence")(ack=_ack, lazy=[self.unsilence])
        app.error(self.failed)

    # --- listeners ----------------------------------------------------------------------

    def podmem(self, body: dict[str, Any], respond: Respond) -> None:
        who = _asker(body)
        if self.too_fast(who, respond):
            return
        self.deliver(self.answers.slash(str(body.get("text", "")), who), respond, who.channel_id)

    def too_fast(self, who: Asker, respond: Respond) -> bool:
        """Commands and every button share one per-user rate."""
        wait = self.rate.wait_seconds(who.user_id)
        if wait:
            respond(
                text=f"Easy: try again in {wait:.0f} s.",
                response_type="ephemeral",
                replace_original=False,
            )
        return bool(wait)

    def full_report(self, body: dict[str, Any], respond: Respond) -> None:
        _, value = _button(body)
        who = _asker(body)
        if self.too_fast(who, respond):
            return
        ref = ContainerRef(value["c"], value["n"], value["p"], value.get("k", ""))
        self.deliver(self.answers.pod(ref, who, share=False), respond, who.channel_id)

    def share(self, body: dict[str, Any], respond: Respond) -> None:
        _, value = _button(body)
        who = _asker(body)
        if self.too_fast(who, respond):
            return
        ref = ContainerRef(value["c"], value["n"], value["p"], value.get("k", ""))
        span = float(value.get("r") or 0) or None
        reply = self.answers.pod(ref, who, share=True, range_seconds=span)
        self.deliver(reply, respond, who.channel_id)

    def may_not(self, asker: Asker, namespace: str, respond: Respond) -> bool:
        """The command's rule for a button: refused (and told so) unless the asker may see
        the namespace from this channel. Nothing is said about what is there."""
        if self.answers.access.may(
            user_id=asker.user_id, channel_id=asker.channel_id, namespace=namespace
        ):
            return False
        respond(
            text=f"⚠️ You may not act on namespace {namespace} from this channel.",
            response_type="ephemeral",
            replace_original=False,
        )
        return True

    def silence(self, body: dict[str, Any], respond: Respond) -> None:
        action, value = _button(body)
        asker = _asker(body)
        if self.too_fast(asker, respond) or self.may_not(asker, str(value["n"]), respond):
            return
        who = f"<@{asker.user_id}>"

        def change(state: State) -> str:
            made = apply_button(
                state,
                action=action,
                cluster=value["c"],
                namespace=value["n"],
                pod=value["p"],
                container=value["k"],
                workload=value.get("w", ""),
                by=who,
                at=time.time(),
                mute_seconds=self.settings.mute_seconds,
                span=value.get("d", ""),
            )
            return self.render.silenced_note(made) if made else f"{SILENCE_MARK} Unmuted by {who}."

        try:
            note = transact(self.store, change)
        except InputError as error:
            respond(text=f"⚠️ {error}", response_type="ephemeral", replace_original=False)
            return
        self.mark_message(body, note, silenced=action != "podmem_unmute", value=value)

    def unsilence(self, body: dict[str, Any], respond: Respond) -> None:
        """An Unmute button of `/podmem silences`: lift that silence, say so to the asker."""
        _, value = _button(body)
        asker = _asker(body)
        if self.too_fast(asker, respond):
            return
        who, wanted = f"<@{asker.user_id}>", str(value.get("id", ""))

        def lift(state: State) -> Silence | None:
            # Checked inside the transaction: the silence the rule saw is the one lifted.
            found = next((s for s in state.silences if s.id == wanted), None)
            if found is None or not self.answers.access.may(
                user_id=asker.user_id, channel_id=asker.channel_id, namespace=found.namespace
            ):
                return None  # the same answer as for a silence that is gone: nothing leaks
            return remove_silence_by_id(state, wanted)

        lifted = transact(self.store, lift)
        said = (
            f"{SILENCE_MARK} Unmuted {lifted.scope} {lifted.namespace}/{lifted.name} by {who}."
            if lifted is not None
            else f"{SILENCE_MARK} No such silence you may lift here (lifted already?)."
        )
        respond(text=said, response_type="ephemeral", replace_original=False)

    def failed(self, error: Exception, body: dict[str, Any]) -> None:
        # Acknowledged already; the asker got an answer from the listener's own guard.
        log.error("Slack listener error: %s", error)

    # --- helpers ------------------------------------------------------------------------

    def mark_message(
        self, body: dict[str, Any], note: str, *, silenced: bool, value: dict[str, str]
    ) -> None:
        """Say on the alert itself who silenced it until when, and swap its buttons."""
        message = body.get("message") or {}
        kept = [
            b
            for b in message.get("blocks", [])
            if b.get("type") != "actions"
            and not (
                b.get("type") == "context" and SILENCE_MARK in json.dumps(b, ensure_ascii=False)
            )
        ]
        ref = ContainerRef(value["c"], value["n"], value["p"], value["k"])
        actions = self.render.actions(ref, value.get("w") or None, silenced=silenced)
        blocks = [*kept, context(note).to_dict(), actions.to_dict()]
        try:
            self.client.chat_update(
                channel=body["channel"]["id"],
                ts=message["ts"],
                text=message.get("text") or note,
                blocks=blocks,
            )
        except (SlackApiError, KeyError) as error:
            log.warning("could not update the alert after a button: %s", error)

    def deliver(self, reply: Reply, respond: Respond, channel_id: str) -> None:
        parts = fit(reply.message)
        if reply.share:
            try:
                self.post_shared(reply, parts, channel_id)
                return
            except SlackApiError as error:
                if error.response.get("error") not in NO_CHANNEL:
                    raise
                invite = context("_Invite me (`/invite @podmem`) to attach charts here._")
                respond(
                    text=parts[0].text,
                    blocks=[*parts[0].blocks, invite.to_dict()],
                    response_type="in_channel",
                )
                return
        for part in parts[:RESPONSE_URL_USES]:
            respond(
                text=part.text,
                blocks=part.blocks,
                response_type="ephemeral",
                replace_original=False,
            )

    def post_shared(self, reply: Reply, parts: list[Any], channel_id: str) -> None:
        # Drawn (by a chart worker) while the message is posted: the chart is what the
        # report waits for.
        chart = self.charts.start(reply.chart, reply.history) if reply.chart else None
        posted = self.client.chat_postMessage(
            channel=channel_id, text=parts[0].text, blocks=parts[0].blocks
        )
        ts, channel = posted["ts"], posted["channel"]
        for part in parts[1:]:
            self.client.chat_postMessage(
                channel=channel, thread_ts=ts, text=part.text, blocks=part.blocks
            )
        png = chart() if chart else None
        if png:
            self.client.files_upload_v2(
                channel=channel,
                thread_ts=ts,
                file=png,
                filename="podmem-report.png",
                title="Memory over time",
            )


def build_app(*, settings: Settings, listeners: Listeners, client: WebClient) -> App:
    secret = settings.slack_signing_secret
    app = App(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        # Socket Mode has no signatures to check; HTTP mode must check every request.
        request_verification_enabled=settings.slack_mode == "http",
        token_verification_enabled=False,
        # Acks on the receiving thread; the work is lazy (see the module's docstring).
        process_before_response=True,
    )
    listeners.register(app)
    return app

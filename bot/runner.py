"""`podmem run`: the long-running bot — scheduler, leader election, health and metrics.

Only the leader runs scheduled jobs (always, with leader election off). A job that raises is
logged and counted and the next run happens; a check that cannot read its data backs off.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.clocks import Clock
from bot.cycle import run_cycle, run_digest
from bot.delivery.outbox import Sender
from bot.delivery.slack import check_slack, refused, slack_client
from bot.errors import SlackUnavailable, StateError
from bot.health import serve_ports
from bot.leader import start_election
from bot.logs import silenced
from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack_app.access import Access
from bot.slack_app.answers import Answers
from bot.slack_app.app import Listeners, build_app
from bot.sources.kubernetes import KubernetesSource
from bot.sources.prometheus import PrometheusSource
from bot.state.store import StateStore
from bot.wiring import build

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 300.0


class Runner:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        store: StateStore,
        source: PrometheusSource,
        kubernetes: KubernetesSource | None,
        sender: Sender,
        metrics: Metrics,
        say: Callable[[str], None] = lambda _text: None,
    ) -> None:
        self.settings, self.clock, self.store = settings, clock, store
        # Said to the default channel outside the outbox: for when the state cannot be written.
        self.say = say
        # SIGTERM: a running drain goes on for half the grace, then ends between notices.
        self._stop_sending_at: float | None = None
        self._state_error: str | None = None
        self.source, self.kubernetes, self.sender, self.metrics = (
            source,
            kubernetes,
            sender,
            metrics,
        )
        self.scheduler = BackgroundScheduler(timezone=settings.timezone)
        self._failures = 0
        self._resume_at = 0.0
        self._notes: tuple[str, ...] = ()  # said once, again only when they change
        self._lock = threading.Lock()
        job = {
            "max_instances": 1,
            "coalesce": True,
            "misfire_grace_time": int(settings.misfire_grace_seconds),
        }
        self.scheduler.add_job(
            self.check_job, "interval", id="check", seconds=settings.check_interval_seconds, **job
        )
        self.scheduler.add_job(
            self.digest_job,
            CronTrigger.from_crontab(settings.digest_cron, timezone=settings.timezone),
            id="digest",
            **job,
        )

    # --- jobs ---------------------------------------------------------------------------

    def check_job(self) -> None:
        if time.monotonic() < self._resume_at:
            return  # backing off after failed checks
        started = time.monotonic()
        try:
            report = run_cycle(
                source=self.source,
                kubernetes=self.kubernetes,
                store=self.store,
                sender=self.sender,
                settings=self.settings,
                at=self.clock(),
                stop=self.out_of_time,
            )
        except StateError as error:
            self._state_failed(str(error))
            return
        except Exception:
            log.exception("check job failed")
            self.metrics.job_errors.labels("check").inc()
            return
        finally:
            self.metrics.check_duration.observe(time.monotonic() - started)
            self.clock.checked()  # a stepped replay moves on one step per check
        self.metrics.checks.labels("ok" if report.ok else "degraded").inc()
        notes = report.result.notes if report.result else self._notes
        if notes != self._notes:
            for note in notes:
                log.warning("%s", note, extra={"note": True})
            self._notes = notes
        delivery = report.delivery
        containers = report.result.containers_checked if report.result else None
        # The same facts as fields, for a log pipeline (log_format: json); text shows the line.
        cycle = {
            "evaluated_at": report.evaluated_at.isoformat(),
            "containers": containers,
            "alerts": len(report.result.alerts) if report.result else None,
            "oom_kills": len(report.result.oom_alerts) if report.result else None,
            "sent": delivery.sent,
            "waiting": delivery.pending,
            "refused": delivery.dead,
            "duration_seconds": round(time.monotonic() - started, 3),
            "ok": report.ok,
        }
        log.info(
            "check at %s: %s container(s), %d sent, %d waiting, %d refused",
            report.evaluated_at.strftime("%H:%M:%S"),
            "no" if containers is None else containers,
            delivery.sent,
            delivery.pending,
            delivery.dead,
            extra=cycle,
        )
        if self._state_error is not None:
            log.warning("the state can be written again; podmem carries on")
            self._state_error = None
        self.metrics.deliveries.labels("sent").inc(report.delivery.sent)
        self.metrics.deliveries.labels("dead_letter").inc(report.delivery.dead)
        self.metrics.observe_state(self.store.read()[0])
        if report.ok:
            self._failures = 0
            self._resume_at = 0.0
        else:
            self._failures += 1
            delay = min(
                MAX_BACKOFF_SECONDS,
                self.settings.check_interval_seconds * 2 ** (self._failures - 1),
            )
            # The job itself runs every interval; skip runs until the back-off has passed.
            self._resume_at = started + delay - self.settings.check_interval_seconds / 2
            log.warning(
                "check failed (%s); next attempt in about %.0f s",
                report.error,
                delay,
                extra={
                    "error": report.error,
                    "failures": self._failures,
                    "retry_in_seconds": delay,
                },
            )

    def stop(self) -> None:
        """Shutting down: what is being sent may go on for half of shutdown_grace_seconds."""
        grace = self.settings.shutdown_grace_seconds
        self._stop_sending_at = time.monotonic() + grace / 2

    def out_of_time(self) -> bool:
        return self._stop_sending_at is not None and time.monotonic() >= self._stop_sending_at

    def _state_failed(self, error: str) -> None:
        """One line, not a traceback every cycle; said once in Slack, directly (the outbox
        lives in the state that cannot be written)."""
        self.metrics.state_errors.inc()
        self.metrics.job_errors.labels("check").inc()
        if error == self._state_error:
            return
        self._state_error = error
        log.error("check failed: %s", error)
        try:
            self.say(
                f":construction: *podmem cannot use its state*: {error}. Checks go on failing "
                "and nothing new is said until this is fixed; nothing recorded is lost."
            )
        except Exception as failure:  # telling is best effort
            log.warning("could not say so in Slack either: %s", failure)

    def digest_job(self) -> None:
        try:
            digests = run_digest(
                source=self.source,
                kubernetes=self.kubernetes,
                store=self.store,
                sender=self.sender,
                settings=self.settings,
                at=self.clock(),
                stop=self.out_of_time,
            )
            log.info(
                "digest posted to %d channel(s)",
                len(digests),
                extra={"channels": [digest.channel for digest in digests]},
            )
        except Exception:
            log.exception("digest job failed")
            self.metrics.job_errors.labels("digest").inc()

    # --- leadership ---------------------------------------------------------------------

    def lead(self) -> None:
        with self._lock:
            log.info("leading: scheduled jobs run here")
            self.metrics.leader.set(1)
            self.scheduler.resume()
            # The first check runs now, not one interval from now.
            self.scheduler.modify_job("check", next_run_time=datetime.now(self.scheduler.timezone))

    def follow(self) -> None:
        with self._lock:
            log.info("not leading: scheduled jobs stopped")
            self.metrics.leader.set(0)
            self.scheduler.pause()

    def ready(self) -> bool:
        try:
            self.store.read()
        except Exception:
            return False
        return True


def _shut_down(scheduler: BackgroundScheduler, grace_seconds: float) -> bool:
    """Stop the scheduler, waiting for a running job at most `grace_seconds`."""
    done = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True)
    done.start()
    done.join(grace_seconds)
    return not done.is_alive()


def run_bot(settings: Settings, *, clock: Clock) -> int:
    client = slack_client(settings)
    with silenced("slack_sdk", "slack_bolt"):  # a failure is said once, below, in one line
        check_slack(client, settings)
    metrics = Metrics()
    parts = build(settings, chart_processes=settings.chart_processes)
    store, source, kubernetes, kube = parts.store, parts.source, parts.kubernetes, parts.kube_api

    def say(text: str) -> None:
        if settings.slack_channel:
            client.chat_postMessage(channel=settings.slack_channel, text=text)

    runner = Runner(
        settings,
        clock=clock,
        store=store,
        source=source,
        kubernetes=kubernetes,
        sender=parts.sender,
        metrics=metrics,
        say=say,
    )
    # Every replica answers /podmem and buttons; only the leader runs scheduled jobs.
    answers = Answers(
        source=source,
        kubernetes=kubernetes,
        settings=settings,
        clock=clock,
        silences=lambda: store.read()[0].silences,
        # Rules' channel names become IDs now, once: a channel named so later is not theirs.
        access=Access.from_slack(settings.access_rules, client),
    )
    listeners = Listeners(
        settings=settings, client=client, answers=answers, store=store, charts=parts.charts
    )
    app = build_app(settings=settings, listeners=listeners, client=client)
    servers = serve_ports(
        settings, metrics, runner.ready, slack=app if settings.slack_mode == "http" else None
    )
    socket_mode = None
    if settings.slack_mode == "socket" and settings.slack_app_token is not None:
        socket_mode = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
        try:
            with silenced("slack_sdk", "slack_bolt", "slack_bolt.App"):
                socket_mode.connect()  # type: ignore[no-untyped-call]
        except (SlackClientError, OSError) as error:
            for server in servers:
                server.shutdown()
            if isinstance(error, SlackApiError):
                status = error.response.status_code
                code = str(error.response.get("error", "")) or f"HTTP {status}"
                raise SlackUnavailable(refused("SLACK_APP_TOKEN", code)) from None
            raise SlackUnavailable(
                f"cannot open Slack's Socket Mode connection ({type(error).__name__}: "
                f"{str(error)[:120]})"
            ) from None
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runner.scheduler.start(paused=True)
    if settings.leader_election:
        if kube is None:
            log.error("leader_election needs the Kubernetes API; running as a follower only")
        else:
            start_election(
                settings, kube, on_started=runner.lead, on_stopped=runner.follow, stop=stop
            )
    else:
        runner.lead()
    stop.wait()
    log.info("stopping")
    runner.stop()
    parts.painter.close()
    if not _shut_down(runner.scheduler, settings.shutdown_grace_seconds):
        # What was being sent is claimed in the state: after a restart its claim is seen
        # dead and the notice looked up before it is posted again. Nothing else is open.
        log.warning(
            "a send still in flight after %g s (shutdown_grace_seconds): exiting anyway",
            settings.shutdown_grace_seconds,
        )
        logging.shutdown()
        os._exit(0)
    if socket_mode is not None:
        socket_mode.close()  # type: ignore[no-untyped-call]
    for server in servers:
        server.shutdown()
    return 0

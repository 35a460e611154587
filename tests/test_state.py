"""One suite, both stores: SQLite (one replica) and a ConfigMap over the real client (HA)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from bot.delivery.outbox import DrainReport, SendResult, drain
from bot.errors import StateError
from bot.lifecycle import apply_check
from bot.notices import Storm
from bot.state.document import (
    SCHEMA_VERSION,
    Conflict,
    MessageRef,
    Notification,
    State,
    dump_state,
    load_state,
)
from bot.state.kubernetes import ConfigMapStore
from bot.state.sqlite import SqliteStore
from bot.state.store import StateStore, transact
from tests.k8s_standin import KubeStandIn
from tests.test_storms import SETTINGS, T0, incident, incident_key, storm_of

SCHEMA_4 = Path(__file__).parent / "fixtures" / "state-schema-4.json"


@pytest.fixture(params=["sqlite", "configmap"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        yield SqliteStore(tmp_path / "state.db")
        return
    with KubeStandIn() as kube:
        yield ConfigMapStore(kube.api_client(), namespace="podmem", name="podmem-state", timeout=5)


@pytest.fixture(params=["sqlite", "configmap"])
def two_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[StateStore, StateStore]]:
    """Two stores over one state: two processes on one file, two replicas on one ConfigMap."""
    if request.param == "sqlite":
        yield SqliteStore(tmp_path / "state.db"), SqliteStore(tmp_path / "state.db")
        return
    with KubeStandIn() as kube:
        one, other = (
            ConfigMapStore(kube.api_client(), namespace="podmem", name="podmem-state", timeout=5)
            for _ in range(2)
        )
        yield one, other


def test_what_a_store_wrote_is_handed_to_its_next_read_once(store: StateStore) -> None:
    """The state just written is not parsed again by the next read (a drain reads and
    writes it for every message); a reader owns what it gets, so what it changes without
    writing is not what the following read sees."""
    state, version = store.read()
    state.kills_seen["a#1"] = 1.0
    store.write(state, version)
    first, _ = store.read()
    assert first is state
    first.kills_seen["not written"] = 2.0
    second, _ = store.read()
    assert second is not first and second.kills_seen == {"a#1": 1.0}


def test_another_writer_is_seen_past_what_a_store_wrote(
    two_stores: tuple[StateStore, StateStore],
) -> None:
    one, other = two_stores
    transact(one, lambda s: s.kills_seen.__setitem__("one", 1.0))
    transact(other, lambda s: s.kills_seen.__setitem__("other", 1.0))
    assert one.read()[0].kills_seen == {"one": 1.0, "other": 1.0}
    transact(one, lambda s: s.kills_seen.__setitem__("one again", 1.0))
    transact(other, lambda s: s.kills_seen.__setitem__("other again", 1.0))
    assert set(one.read()[0].kills_seen) == {"one", "other", "one again", "other again"}


def test_empty_then_round_trip(store: StateStore) -> None:
    state, version = store.read()
    assert state == State()
    state.kills_seen["a#1"] = 1.0
    store.write(state, version)
    again, _ = store.read()
    assert again.kills_seen == {"a#1": 1.0}


def test_stale_version_is_a_conflict(store: StateStore) -> None:
    state, version = store.read()
    store.write(state, version)
    state2, version2 = store.read()
    store.write(state2, version2)
    with pytest.raises(Conflict):
        store.write(state2, version2)


def test_concurrent_transactions_lose_nothing(store: StateStore) -> None:
    def add(n: int) -> None:
        for i in range(5):
            transact(store, lambda s, key=f"{n}-{i}": s.kills_seen.__setitem__(key, 1.0))

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.read()[0].kills_seen) == 20


def test_first_writers_race_on_creation(store: StateStore) -> None:
    state, version = store.read()
    store.write(state, version)
    with pytest.raises(Conflict):
        store.write(State(), version)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s.db").write(State(schema_version=99), "0")  # a newer podmem
    with pytest.raises(StateError, match="newer podmem"):
        SqliteStore(tmp_path / "s.db").read()


def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    first = SqliteStore(path)
    state, version = first.read()
    state.watching_since = 5.0
    first.write(state, version)
    first.close()
    assert SqliteStore(path).read()[0].watching_since == 5.0


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="cannot open state file"):
        SqliteStore(blocker / "state.db")


def test_forbidden_configmap_names_the_permission() -> None:
    with KubeStandIn() as kube:
        kube.forbid(r"/configmaps")
        store = ConfigMapStore(
            kube.api_client(), namespace="podmem", name="podmem-state", timeout=5
        )
        with pytest.raises(StateError, match="needs get/create/update on configmaps"):
            store.read()


def test_a_storm_of_two_thousand_round_trips_under_256_kib(store: StateStore) -> None:
    """2 000 storm members and their storm notices, written and read back whole, in under
    256 KiB of either store; a member read back lives on (it resolves in its storm's thread)."""
    storm = storm_of(2000)
    _, version = store.read()
    store.write(storm, version)
    again, _ = store.read()
    assert again == storm
    assert len(dump_state(again)) < 256 * 1024
    again.outbox.clear()
    levels: list[float | None] = [0.4, *[0.85] * 1999]
    apply_check(again, incident(levels, T0 + 120), at=T0 + 120, settings=SETTINGS)
    (note,) = again.outbox
    assert note.kind == "alert_resolved" and note.thread == f"storm/channel/#alerts/{T0 + 60:.0f}"
    assert incident_key(0) not in again.alerts and len(again.alerts) == 1999


def test_a_schema_4_state_loads_and_is_written_grouped() -> None:
    """A document the previous version wrote (one record per alert, storm members as
    objects) reads as it was meant, and is written in today's schema (5 on): alerts grouped,
    the storm's members a table."""
    old = json.loads(SCHEMA_4.read_text())
    assert old["schema_version"] == 4
    state = load_state(SCHEMA_4.read_text())
    assert state.schema_version == SCHEMA_VERSION == 6
    assert len(state.alerts) == 12
    for key, record in old["alerts"].items():
        loaded = state.alerts[key]
        assert loaded.model_dump() == record  # the same record, in the same small form
        assert (loaded.namespace, loaded.pod) == ("shop", key.split("/")[3])
    widened = state.alerts["memory//shop/api-7d9f-000/app"]
    assert widened.channels == ["#alerts", "#oncall"] and widened.severity == "critical"
    (storm,) = [n.notice for n in state.outbox if isinstance(n.notice, Storm)]
    members = old["outbox"][0]["notice"]["alerts"]
    assert len(storm.alerts) == len(members) == 12
    for member, was in zip(storm.alerts, members, strict=True):
        assert member._asdict() == {
            "ref": tuple(was["ref"]),
            "severity": was["severity"],
            "workload": was.get("workload"),
            "node": was.get("node"),
            "working_set_to_limit": was.get("working_set_to_limit"),
        }
    written = json.loads(dump_state(state))
    assert written["schema_version"] == SCHEMA_VERSION
    # The storm's 11 warnings are one group; the one escalated since (and widened) its own.
    assert [len(g["containers"]["app"]) for g in written["alerts"]] == [1, 11]
    assert set(written["outbox"][0]["notice"]["alerts"]) == {"names", "rows"}
    assert load_state(dump_state(state)) == state


class _NothingToSend:
    """A drain's destination for an empty outbox: never called."""

    def prepare(self, pending: Sequence[Notification]) -> None:
        raise AssertionError("nothing to prepare")

    def send(self, note: Notification, message: MessageRef | None, **_: object) -> SendResult:
        raise AssertionError("nothing to send")


def test_a_drain_with_nothing_to_send_does_not_write_the_state(store: StateStore) -> None:
    """Most checks send nothing; their drain used to claim nothing in a write of the whole
    document (170 KB with 1 100 open alerts at 100 000 containers)."""
    transact(store, lambda s: s.kills_seen.__setitem__("a#1", 1.0))
    version = store.read()[1]
    assert drain(store, _NothingToSend()) == DrainReport(0, 0, 0)
    assert store.read()[1] == version

"""One suite, both stores: SQLite (one replica) and a ConfigMap over the real client (HA)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import StateError
from bot.state.document import Conflict, State
from bot.state.kubernetes import ConfigMapStore
from bot.state.sqlite import SqliteStore
from bot.state.store import StateStore, transact
from tests.k8s_standin import KubeStandIn


@pytest.fixture(params=["sqlite", "configmap"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        yield SqliteStore(tmp_path / "state.db")
        return
    with KubeStandIn() as kube:
        yield ConfigMapStore(kube.api_client(), namespace="podmem", name="podmem-state", timeout=5)


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
    store = SqliteStore(tmp_path / "s.db")
    store.write(State(schema_version=99), "0")
    with pytest.raises(StateError, match="newer podmem"):
        store.read()


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

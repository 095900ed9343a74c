"""The one lease (store.hold_lease) on SQLite and Postgres: racing holders, expiry, release,
renewal, and a lease lost to another holder. Time never decides: a lease "expires" because the
test moves its deadline into the past in the database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.db import session_scope
from coolpapers.models import Lease, utcnow

NAME = "test-lease"
TTL_S = 600  # long: nothing in these tests waits for it


def expire(factory: sessionmaker[Session], name: str = NAME) -> None:
    """What the clock would do to the holder's lease after its time (without waiting for it)."""
    with session_scope(factory, write=True) as s:
        s.execute(
            update(Lease).where(Lease.name == name).values(expires_at=utcnow() - timedelta(1))
        )


def holder(factory: sessionmaker[Session], name: str = NAME) -> tuple[str, datetime] | None:
    with session_scope(factory) as s:
        return store.lease_holder(s, name)


def test_racing_holders_one_wins(factory: sessionmaker[Session]) -> None:
    """Eight threads start at once; one holds the lease until every other has been refused."""
    n = 8
    start = threading.Barrier(n)
    refused: list[str] = []
    everyone_tried = threading.Event()
    won: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def contender() -> None:
        try:
            start.wait()
            with store.hold_lease(factory, NAME, TTL_S):
                won.append(threading.current_thread().name)
                everyone_tried.wait(timeout=60)  # hold while the others try
        except store.LeaseHeld as exc:
            with lock:
                refused.append(str(exc))
                if len(refused) == n - 1:
                    everyone_tried.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            everyone_tried.set()

    threads = [threading.Thread(target=contender) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(won) == 1 and len(refused) == n - 1
    assert all(f"the {NAME} lease until" in message for message in refused)
    assert holder(factory) is None  # the winner released it on the way out


def test_a_held_lease_refuses_then_expires_to_the_next(factory: sessionmaker[Session]) -> None:
    with store.hold_lease(factory, NAME, TTL_S) as first:
        with pytest.raises(store.LeaseHeld), store.hold_lease(factory, NAME, TTL_S):
            pass
        expire(factory)  # its holder died, say
        with store.hold_lease(factory, NAME, TTL_S) as second:
            now = holder(factory)
            assert now is not None and now[0] == second.holder != first.holder
            # the first holder finds out at its next renewal, and must stop
            with pytest.raises(store.LeaseLost):
                first()
        assert holder(factory) is None
    assert holder(factory) is None  # leaving the first block released nothing of the second's


def test_leaving_the_first_block_does_not_release_the_second(
    factory: sessionmaker[Session],
) -> None:
    outer = store.hold_lease(factory, NAME, TTL_S)
    outer.__enter__()
    expire(factory)
    with store.hold_lease(factory, NAME, TTL_S) as second:
        outer.__exit__(None, None, None)  # the first holder's release is a no-op now
        now = holder(factory)
        assert now is not None and now[0] == second.holder


def test_release_frees_it_even_when_the_block_fails(factory: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), store.hold_lease(factory, NAME, TTL_S):
        assert holder(factory) is not None
        raise RuntimeError("the work failed")
    assert holder(factory) is None
    with store.hold_lease(factory, NAME, TTL_S):  # at once, no waiting for a deadline
        pass


def test_renew_pushes_the_deadline(factory: sessionmaker[Session]) -> None:
    with store.hold_lease(factory, NAME, 60) as renew:
        with session_scope(factory, write=True) as s:  # nearly out of time
            s.execute(
                update(Lease)
                .where(Lease.name == NAME)
                .values(expires_at=utcnow() + timedelta(0, 1))
            )
        asked = utcnow()
        renew()
        now = holder(factory)
        assert now is not None and now[1] >= asked + timedelta(seconds=60)
        # an expired lease nobody took is still the holder's: renewing keeps it
        expire(factory)
        renew()
        assert holder(factory) is not None


def test_a_released_lease_is_lost_to_renew(factory: sessionmaker[Session]) -> None:
    with store.hold_lease(factory, NAME, TTL_S) as renew:
        with session_scope(factory, write=True) as s:
            store.release_lease(s, NAME, renew.holder)  # e.g. an operator freed it
        with pytest.raises(store.LeaseLost, match="released"):
            renew()


def test_every_acquisition_has_its_own_holder(factory: sessionmaker[Session]) -> None:
    holders = set()
    for _ in range(3):
        with store.hold_lease(factory, NAME, TTL_S) as renew:
            holders.add(renew.holder)
    assert len(holders) == 3


def test_leases_are_independent_by_name(factory: sessionmaker[Session]) -> None:
    with store.hold_lease(factory, "a", TTL_S), store.hold_lease(factory, "b", TTL_S):
        assert holder(factory, "a") is not None and holder(factory, "b") is not None


def test_a_lease_whose_holder_was_killed_is_taken_over_at_once(
    factory: sessionmaker[Session],
) -> None:
    """A process of this machine that died holding a lease (SIGKILL: no release) does not
    block the next holder until the lease expires; a live or remote holder still does."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # ended and reaped: its id names no process now
    host = socket.gethostname()
    holders = {
        "remote": f"elsewhere.invalid:{dead.pid}:0000",
        "alive": f"{host}:{os.getpid()}:0000",
        "dead": f"{host}:{dead.pid}:0000",
    }
    for kind, holder in holders.items():
        with session_scope(factory, write=True) as s:
            s.merge(Lease(name=kind, holder=holder, expires_at=utcnow() + timedelta(hours=1)))
    for kind in ("remote", "alive"):
        with pytest.raises(store.LeaseHeld), store.hold_lease(factory, kind, 60):
            pass
    with store.hold_lease(factory, "dead", 60):
        with session_scope(factory) as s:
            now = store.lease_holder(s, "dead")
        assert now is not None and now[0] != holders["dead"]

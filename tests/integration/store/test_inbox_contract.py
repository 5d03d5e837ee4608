"""One contract for every ``EventInbox``: the fake, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from src.application.errors import LeaseLostError
from src.application.ports.inbox import BatchOutcome, EventInbox, Failure, RequeueSelection
from src.domain.apps import default_catalogue
from src.domain.events import NewEvent, new_event
from tests.integration.store.conftest import T0

CATALOGUE = default_catalogue()
LATER = T0 + timedelta(minutes=5)


def event(user: str = "u1", key: str | None = None, **fields: object) -> NewEvent:
    values: dict[str, object] = {
        "event_type": "letter.generated",
        "app_source": "phoenix-letters",
        "user_id": user,
        "payload": {"company": "Airbus"},
        "timestamp": T0,
        "idempotency_key": key,
    }
    values.update(fields)
    return new_event(CATALOGUE, **values)  # type: ignore[arg-type]


def test_append_refuses_a_second_row_with_the_same_hash(inbox: EventInbox) -> None:
    first = inbox.append([event(), event(key="k2")])
    again = inbox.append([event(), event(key="k3")])
    assert (first.accepted, first.duplicates) == (2, 0)
    assert (again.accepted, again.duplicates) == (1, 1)
    assert again.duplicate_hashes == (event().event_hash,)
    assert first.duplicate_hashes == ()
    assert inbox.queue_status(T0).pending == 3


def test_each_group_names_its_own_duplicates(inbox: EventInbox) -> None:
    inbox.append([event()])
    results = inbox.append_groups([[event(key="a"), event()], [event(key="a")]])
    assert [r.duplicate_hashes for r in results] == [
        (event().event_hash,),
        (event(key="a").event_hash,),
    ]


def test_claim_leases_events_in_arrival_order_and_counts_the_attempt(inbox: EventInbox) -> None:
    inbox.append([event(user=f"u{n}", key=str(n)) for n in range(5)])
    claimed = inbox.claim(3, T0, LATER)
    assert [e.idempotency_key for e in claimed] == ["0", "1", "2"]
    assert all(e.attempts == 1 and e.event_hash for e in claimed)
    assert claimed[0].timestamp == T0
    assert claimed[0].payload == {"company": "Airbus"}
    assert [e.idempotency_key for e in inbox.claim(10, T0, LATER)] == ["3", "4"]
    assert inbox.claim(10, T0, LATER) == []
    status = inbox.queue_status(T0)
    assert (status.pending, status.processing) == (0, 5)


def test_a_user_with_events_in_hand_waits_for_that_batch(inbox: EventInbox) -> None:
    inbox.append([event("u1", key="1"), event("u2", key="2")])
    (first, _) = inbox.claim(10, T0, LATER)
    inbox.append([event("u1", key="3"), event("u3", key="4")])
    assert [e.idempotency_key for e in inbox.claim(10, T0, LATER)] == ["4"]  # u1 is in hand
    inbox.complete(BatchOutcome([first.id], [], [], T0))
    assert [e.idempotency_key for e in inbox.claim(10, T0, LATER)] == ["3"]


def test_a_user_whose_lease_expired_is_claimable_again(inbox: EventInbox) -> None:
    inbox.append([event("u1", key="1")])
    inbox.claim(10, T0, LATER)
    inbox.append([event("u1", key="2")])
    assert inbox.claim(10, T0, LATER) == []
    later = [e.idempotency_key for e in inbox.claim(10, LATER, LATER + timedelta(minutes=5))]
    assert later == ["1", "2"]


def test_an_expired_lease_makes_the_event_claimable_again(inbox: EventInbox) -> None:
    inbox.append([event()])
    inbox.claim(10, T0, LATER)
    assert inbox.claim(10, LATER - timedelta(seconds=1), LATER + timedelta(minutes=5)) == []
    (again,) = inbox.claim(10, LATER, LATER + timedelta(minutes=5))
    assert again.attempts == 2


def test_complete_records_each_outcome(inbox: EventInbox) -> None:
    inbox.append([event(key=str(n)) for n in range(4)])
    a, b, c, d = (e.id for e in inbox.claim(10, T0, LATER))
    inbox.complete(
        BatchOutcome([a], [b], [Failure(c, "boom", LATER), Failure(d, "fatal", None)], T0)
    )
    status = inbox.queue_status(T0)
    assert (status.processed, status.duplicates, status.failed, status.dead) == (1, 1, 1, 1)
    assert inbox.claim(10, T0, LATER) == []
    (retried,) = inbox.claim(10, LATER, LATER + timedelta(minutes=5))
    assert retried.id == c


def test_twins_names_the_rows_whose_hash_another_row_holds(inbox: EventInbox) -> None:
    inbox.append([event(key="a"), event(key="b")])
    first, second = inbox.claim(10, T0, LATER)
    assert first.event_hash is not None
    assert inbox.twins({second.id: first.event_hash}) == {second.id}
    assert inbox.twins({first.id: first.event_hash}) == set()  # its own hash


def test_twins_of_a_batch_the_first_of_twins_winning(inbox: EventInbox) -> None:
    inbox.append([event(key=key) for key in "abcd"])
    first, second, third, fourth = inbox.claim(10, T0, LATER)
    new = "f" * 64
    assert first.event_hash is not None
    twins = inbox.twins({third.id: new, second.id: new, fourth.id: first.event_hash})
    assert twins == {third.id, fourth.id}
    assert inbox.twins({}) == set()


def test_a_row_takes_its_hash_with_its_mark_and_the_unique_hash_decides(
    inbox: EventInbox,
) -> None:
    inbox.append([event(key=key) for key in "bc"])
    second, third = inbox.claim(10, T0, LATER, "w:1")
    new = "f" * 64
    inbox.complete(BatchOutcome([second.id], [], [], T0, "w:1", {second.id: new}))
    assert inbox.twins({third.id: new}) == {third.id}  # second holds it now
    with pytest.raises(Exception, match="event_hash"):
        inbox.complete(BatchOutcome([third.id], [], [], T0, "w:1", {third.id: new}))
    assert inbox.queue_status(T0).processed == 1


def test_requeue_by_status_ids_and_since(inbox: EventInbox) -> None:
    inbox.append([event(key=str(n), timestamp=T0 + timedelta(days=n)) for n in range(3)])
    a, b, c = (e.id for e in inbox.claim(10, T0, LATER))
    inbox.complete(BatchOutcome([a], [], [Failure(b, "x", None), Failure(c, "y", LATER)], T0))
    assert inbox.requeue(RequeueSelection(status="dead")) == 1
    assert inbox.requeue(RequeueSelection(event_ids=(a, 999_999))) == 1
    assert inbox.requeue(RequeueSelection(since=T0 + timedelta(days=2))) == 1
    assert inbox.queue_status(T0).pending == 3
    assert all(e.attempts == 1 for e in inbox.claim(10, T0, LATER))


def test_requeue_never_touches_an_event_being_processed(inbox: EventInbox) -> None:
    inbox.append([event()])
    (claimed,) = inbox.claim(10, T0, LATER)
    assert inbox.requeue(RequeueSelection(event_ids=(claimed.id,))) == 0


def test_queue_status_reports_the_oldest_pending_age(inbox: EventInbox) -> None:
    assert inbox.queue_status(T0).oldest_pending_age_seconds is None
    inbox.append([event()])
    status = inbox.queue_status(T0 + timedelta(days=3650))
    assert status.oldest_pending_age_seconds is not None
    assert status.oldest_pending_age_seconds > 0


def test_a_holder_renews_only_its_own_leases(inbox: EventInbox) -> None:
    inbox.append([event("u1", key="1"), event("u2", key="2")])
    inbox.claim(1, T0, LATER, "worker-a:1")
    inbox.claim(1, T0, LATER, "worker-b:1")
    much_later = LATER + timedelta(minutes=5)
    assert inbox.renew("worker-a:1", much_later) == 1
    # At LATER, b's lease has run out and a's was renewed: only b's event is claimable.
    (taken,) = inbox.claim(10, LATER, much_later, "worker-c:1")
    assert taken.idempotency_key == "2"


def test_give_back_makes_a_holders_events_claimable_at_once_uncounted(inbox: EventInbox) -> None:
    inbox.append([event("u1", key="1"), event("u2", key="2")])
    inbox.claim(1, T0, LATER, "worker-a:1")
    inbox.claim(1, T0, LATER, "worker-b:1")
    assert inbox.give_back(["worker-a:1", "worker-a:2"]) == 1
    (again,) = inbox.claim(10, T0, LATER, "worker-c:1")
    assert (again.idempotency_key, again.attempts) == ("1", 1)
    assert inbox.give_back(["worker-a:1"]) == 0


def test_an_outcome_ends_the_hold(inbox: EventInbox) -> None:
    inbox.append([event()])
    (claimed,) = inbox.claim(10, T0, LATER, "worker-a:1")
    inbox.complete(BatchOutcome([], [], [Failure(claimed.id, "boom", T0)], T0))
    assert inbox.give_back(["worker-a:1"]) == 0
    assert inbox.renew("worker-a:1", LATER) == 0


def test_the_store_answers(inbox: EventInbox) -> None:
    assert inbox.reachable() is True


def test_an_outcome_is_written_only_while_its_batch_holds_the_events(inbox: EventInbox) -> None:
    inbox.append([event()])
    (stalled,) = inbox.claim(10, T0, LATER, "worker-a:1")
    inbox.claim(10, LATER, LATER + timedelta(minutes=5), "worker-b:1")  # a's lease ran out
    with pytest.raises(LeaseLostError, match="worker-a:1"):
        inbox.complete(BatchOutcome([stalled.id], [], [], T0, "worker-a:1"))
    assert (inbox.queue_status(T0).processing, inbox.renew("worker-b:1", LATER)) == (1, 1)
    inbox.complete(BatchOutcome([stalled.id], [], [], T0, "worker-b:1"))
    assert inbox.queue_status(T0).processed == 1
    # Its own batch may mark it again (a save redone in parts); the stalled one still not.
    inbox.complete(BatchOutcome([stalled.id], [], [], T0, "worker-b:1"))
    with pytest.raises(LeaseLostError):
        inbox.complete(BatchOutcome([stalled.id], [], [], T0, "worker-a:1"))


def test_an_outage_is_told_from_the_error_itself(inbox: EventInbox) -> None:
    assert inbox.is_outage(ConnectionResetError("connection reset by peer"))
    assert not inbox.is_outage(ValueError("a value the store refused"))
    assert not inbox.is_outage(LeaseLostError("worker-a:1", 1))

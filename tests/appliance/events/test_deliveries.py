"""Fan-out, delivery, retries and the sweeper, on both engines, with subscribers registered for the test."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import pytest

from appliance.audit.tables import AuditEntry
from appliance.auth.actor import cli_actor
from appliance.core.clock import utc_now
from appliance.core.errors import Conflict
from appliance.events import actions
from appliance.events.envelope import Envelope
from appliance.events.retry import FIRST_WAIT, JITTER, max_attempts
from appliance.events.subscribers import Permanent, Retryable, Subscriber, subscribe, unsubscribe
from appliance.events.sweeper import GRACE, sweep
from appliance.events.tables import Attempt, Delivery, OutboxEvent
from appliance.testing.builders import make_branch

pytestmark = pytest.mark.usefixtures("database")


class Recorder:
    """A subscriber that records what it handled and fails as told."""

    def __init__(self, key: str, *, wants: str = "branch.", fail: Exception | None = None) -> None:
        self.key, self.prefix, self.fail = key, wants, fail
        self.handled: list[Envelope] = []

    def subscriber(self) -> Subscriber:
        return Subscriber(self.key, lambda e: e.type.startswith(self.prefix), self.handle)

    async def handle(self, envelope: Envelope) -> None:
        if self.fail is not None:
            raise self.fail
        self.handled.append(envelope)


@pytest.fixture
def recorders() -> Iterator[list[Recorder]]:
    made: list[Recorder] = []
    yield made
    for recorder in made:
        unsubscribe(recorder.key)


def register(recorders: list[Recorder], *items: Recorder) -> None:
    for item in items:
        recorders.append(item)
        subscribe(item.subscriber())


async def event_of(type_: str) -> UUID:
    row = await OutboxEvent.select(OutboxEvent.id).where(OutboxEvent.type == type_).first()
    assert row is not None
    return UUID(str(row["id"]))


async def test_an_event_becomes_one_delivery_per_wanting_subscriber_once(recorders: list[Recorder]) -> None:
    register(recorders, Recorder("test.a"), Recorder("test.b"), Recorder("test.other", wants="booking."))
    await make_branch()
    event_id = await event_of("branch.created")

    first, again = await actions.fan_out(event_id), await actions.fan_out(event_id)

    rows = await Delivery.select(Delivery.id, Delivery.subscriber, Delivery.status).where(Delivery.event == event_id)
    assert sorted(r["subscriber"] for r in rows) == ["test.a", "test.b"]
    assert {r["status"] for r in rows} == {"pending"} and sorted(first) == sorted(r["id"] for r in rows)
    assert again == []
    assert (await OutboxEvent.select(OutboxEvent.dispatched_at).where(OutboxEvent.id == event_id).first())["dispatched_at"]


async def test_a_delivery_is_handled_once_even_when_its_message_comes_twice(recorders: list[Recorder]) -> None:
    recorder = Recorder("test.once")
    register(recorders, recorder)
    branch = await make_branch()
    [delivery_id] = await actions.fan_out(await event_of("branch.created"))

    outcomes = [await actions.deliver(delivery_id), await actions.deliver(delivery_id)]

    assert outcomes == ["done", "skipped"]
    assert [e.subject.id for e in recorder.handled] == [str(branch.id)]
    attempts = await Attempt.select().where(Attempt.delivery == delivery_id)
    assert [(a["number"], a["outcome"]) for a in attempts] == [(1, "success")]
    row = await Delivery.select().where(Delivery.id == delivery_id).first()
    assert row["status"] == "done" and row["completed_at"] is not None and row["attempts"] == 1


async def test_one_failing_subscriber_waits_for_a_retry_and_the_others_are_served(recorders: list[Recorder]) -> None:
    healthy = Recorder("test.healthy")
    # The receiver's error names a customer's phone: it must not reach the stored response.
    broken = Recorder("test.broken", fail=Retryable("receiver said: unknown +8613812345678"))
    register(recorders, healthy, broken)
    await make_branch()
    ids = await actions.fan_out(await event_of("branch.created"))
    by_key = {r["subscriber"]: r["id"] for r in await Delivery.select(Delivery.id, Delivery.subscriber)}
    assert sorted(by_key.values()) == sorted(ids)

    before = utc_now()
    assert await actions.deliver(by_key["test.broken"], rng=random.Random(1)) == "retry"
    assert await actions.deliver(by_key["test.healthy"]) == "done"

    assert len(healthy.handled) == 1
    row = await Delivery.select().where(Delivery.id == by_key["test.broken"]).first()
    assert row["status"] == "pending" and row["attempts"] == 1
    wait = row["next_attempt_at"] - before
    assert FIRST_WAIT * (1 - JITTER) - timedelta(seconds=1) <= wait <= FIRST_WAIT * (1 + JITTER) + timedelta(seconds=1)
    assert "13812345678" not in row["last_error"] and row["last_error"].startswith("Retryable: receiver said")
    # Not due yet: a message arriving early does nothing.
    assert await actions.deliver(by_key["test.broken"]) == "skipped"


async def test_retries_run_out_into_dead_and_a_permanent_failure_is_dead_at_once(recorders: list[Recorder]) -> None:
    register(
        recorders, Recorder("test.flaky", fail=Retryable("timeout")), Recorder("test.refused", fail=Permanent("410 Gone"))
    )
    await make_branch()
    await actions.fan_out(await event_of("branch.created"))
    by_key = {r["subscriber"]: r["id"] for r in await Delivery.select(Delivery.id, Delivery.subscriber)}
    # As if every earlier try had failed: the next failure is the last one allowed.
    await Delivery.update({Delivery.attempts: max_attempts() - 1}).where(Delivery.id == by_key["test.flaky"])

    assert await actions.deliver(by_key["test.flaky"]) == "dead"
    assert await actions.deliver(by_key["test.refused"]) == "dead"

    rows = {r["subscriber"]: r for r in await Delivery.select()}
    assert rows["test.flaky"]["last_error"] == f"gave up after {max_attempts()} attempts: Retryable: timeout"
    assert rows["test.refused"]["last_error"] == "Permanent: 410 Gone" and rows["test.refused"]["attempts"] == 1


async def test_a_dead_delivery_is_resent_by_hand_and_the_resend_is_audited(recorders: list[Recorder]) -> None:
    recorder = Recorder("test.later", fail=Permanent("mailbox full"))
    register(recorders, recorder)
    await make_branch()
    [delivery_id] = await actions.fan_out(await event_of("branch.created"))
    assert await actions.deliver(delivery_id) == "dead"

    recorder.fail = None
    await actions.resend_delivery(delivery_id, actor=cli_actor())
    assert await actions.deliver(delivery_id) == "done"

    assert len(recorder.handled) == 1
    assert await AuditEntry.count().where(AuditEntry.action == "delivery.resent") == 1
    attempts = await Attempt.select(Attempt.outcome).where(Attempt.delivery == delivery_id).order_by(Attempt.started_at)
    assert [a["outcome"] for a in attempts] == ["failed", "success"]


async def test_a_pending_delivery_cannot_be_resent(recorders: list[Recorder]) -> None:
    register(recorders, Recorder("test.pending"))
    await make_branch()
    [delivery_id] = await actions.fan_out(await event_of("branch.created"))

    with pytest.raises(Conflict):
        await actions.resend_delivery(delivery_id, actor=cli_actor())
    assert await AuditEntry.count().where(AuditEntry.action == "delivery.resent") == 0


async def test_the_sweeper_finds_what_the_broker_never_got(recorders: list[Recorder]) -> None:
    register(recorders, Recorder("test.swept"))
    await make_branch()  # no broker is bound in this test: the event's message was never sent
    assert (await sweep()).events == 0  # within the grace period it is left to the broker

    later = utc_now() + GRACE + timedelta(seconds=1)
    assert (await sweep(later)).events == 1
    [delivery_id] = await actions.fan_out(await event_of("branch.created"))
    assert (await sweep()).deliveries == 0  # fresh: just handed to the broker
    assert (await sweep(utc_now() + GRACE + timedelta(seconds=1))).deliveries == 1

    # A worker killed mid-delivery leaves it running; once its claim expires it is handed on again.
    await Delivery.update({Delivery.status: "running", Delivery.claimed_until: utc_now() - timedelta(seconds=1)}).where(
        Delivery.id == delivery_id
    )
    assert (await sweep()).deliveries == 1
    assert await actions.deliver(delivery_id) == "done"
    assert (await sweep(utc_now() + GRACE + timedelta(seconds=1))).deliveries == 0


async def test_the_sweeper_hands_each_late_item_on_once_per_grace_period(recorders: list[Recorder]) -> None:
    register(recorders, Recorder("test.backlog"))
    await make_branch()  # its event is never sent: as if stuck behind a backlog in the broker's queue
    late = utc_now() + GRACE + timedelta(seconds=1)

    assert (await sweep(late)).events == 1
    assert (await sweep(late + timedelta(seconds=1))).events == 0  # just handed on: the broker's turn
    assert (await sweep(late + GRACE + timedelta(seconds=1))).events == 1  # still not done: once more

    [delivery_id] = await actions.fan_out(await event_of("branch.created"))
    parked = utc_now() - timedelta(minutes=1)  # a retry parked in the database, due a minute ago
    await Delivery.update({Delivery.next_attempt_at: parked, Delivery.updated_at: parked}).where(Delivery.id == delivery_id)
    assert (await sweep()).deliveries == 1
    assert (await sweep()).deliveries == 0
    row = await Delivery.select().where(Delivery.id == delivery_id).first()
    assert row["status"] == "pending" and row["next_attempt_at"] is None  # due now, whoever gets the message
    assert await actions.deliver(delivery_id) == "done"

"""Fan-out, delivery, retries and the sweeper, on both engines, with subscribers registered for the test."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import pytest

from appliance.audit.tables import AuditEntry
from appliance.auth.actor import cli_actor
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.core.errors import Conflict
from appliance.events import actions, attempts, outbox
from appliance.events.envelope import Envelope, Subject
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


async def test_the_worker_fans_out_a_batch_and_tries_each_delivery_once_on_its_own(recorders: list[Recorder]) -> None:
    healthy = Recorder("test.healthy")
    broken = Recorder("test.broken", fail=Retryable("receiver down"))
    register(recorders, healthy, broken)
    branches = [await make_branch(f"店{n}") for n in range(2)]
    events = [r["id"] for r in await OutboxEvent.select(OutboxEvent.id).where(OutboxEvent.type == "branch.created")]

    outcomes = await actions.fan_out_and_deliver(events)

    # The broken subscriber waits for its retry; the healthy one was served all the same.
    assert sorted(outcomes) == ["done", "done", "retry", "retry"]
    assert sorted(e.subject.id for e in healthy.handled) == sorted(str(b.id) for b in branches)
    rows = await Delivery.select().where(Delivery.event.is_in(events))
    assert {(r["subscriber"], r["status"], r["attempts"]) for r in rows} == {
        ("test.healthy", "done", 1), ("test.broken", "pending", 1)
    }
    assert all(r["claimed_until"] is None for r in rows)
    assert all(r["next_attempt_at"] is not None for r in rows if r["subscriber"] == "test.broken")
    attempts = await Attempt.select(Attempt.delivery, Attempt.number, Attempt.outcome)
    assert sorted((a["number"], a["outcome"]) for a in attempts) == [(1, "retry"), (1, "retry"), (1, "success"), (1, "success")]
    assert {a["delivery"] for a in attempts} == {r["id"] for r in rows}

    # The same message again (a redelivery, the sweeper's copy): nothing is fanned out or run twice.
    assert await actions.fan_out_and_deliver(events) == []
    assert len(healthy.handled) == 2 and await Delivery.count() == 4 and await Attempt.count() == 4


async def test_two_copies_of_a_fan_out_message_at_once_create_and_try_each_delivery_once(
    recorders: list[Recorder],
) -> None:
    recorder = Recorder("test.once")
    register(recorders, recorder)
    await make_branch()
    event_id = await event_of("branch.created")

    # Both copies may read the event as not fanned out yet; only the one that claims it creates deliveries.
    first, second = await asyncio.gather(
        actions.fan_out_and_deliver([event_id]), actions.fan_out_and_deliver([event_id])
    )

    assert sorted([*first, *second]) == ["done"] and len(recorder.handled) == 1
    assert await Delivery.count().where(Delivery.subscriber == "test.once") == 1


async def test_first_tries_a_worker_died_before_making_are_handed_on_once_their_claim_lapses(
    recorders: list[Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder("test.orphan")
    register(recorders, recorder)
    await make_branch()
    event_id = await event_of("branch.created")

    async def died(*args: object) -> str:
        raise RuntimeError("the worker stopped right after the fan-out committed")

    with monkeypatch.context() as patched:
        patched.setattr(actions, "_first_try", died)
        assert await actions.fan_out_and_deliver([event_id]) == ["error"]
    [row] = await Delivery.select().where(Delivery.event == event_id)
    assert row["status"] == "running" and recorder.handled == []

    assert (await sweep()).deliveries == 0  # claimed: left alone while the claim holds
    assert (await sweep(utc_now() + actions.claim_period() + timedelta(seconds=1))).deliveries == 1
    assert await actions.deliver(row["id"]) == "done"
    assert len(recorder.handled) == 1
    assert await Attempt.count().where(Attempt.delivery == row["id"]) == 1


async def test_a_first_try_that_could_not_finish_within_its_claim_is_handed_back_untried(
    recorders: list[Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder("test.late")
    register(recorders, recorder)
    await make_branch()
    event_id = await event_of("branch.created")
    sent: list[tuple[str, tuple[str, ...]]] = []
    monkeypatch.setattr(attempts, "enqueue", lambda name, *args, delay=None: sent.append((name, args)))
    # A claim shorter than the subscriber's timeout: as if the try had waited for its turn that long.
    monkeypatch.setattr(actions, "CLAIM_MARGIN", -timedelta(seconds=1))

    assert await actions.fan_out_and_deliver([event_id]) == ["skipped"]

    assert recorder.handled == [] and await Attempt.count() == 0
    [row] = await Delivery.select().where(Delivery.event == event_id)
    assert (row["status"], row["attempts"], row["claimed_until"]) == ("pending", 0, None)
    assert sent == [("deliver", (str(row["id"]),))]
    assert await actions.deliver(row["id"]) == "done" and len(recorder.handled) == 1


async def test_the_events_of_one_transaction_are_handed_over_in_batches_after_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[tuple[str, tuple[str, ...]]] = []
    monkeypatch.setattr(outbox, "enqueue", lambda name, *args, delay=None: sent.append((name, args)))
    count = 2 * outbox.HAND_OVER_BATCH + 5

    async with write_transaction():
        envelopes = await outbox.add_events(
            "test.batch", [(Subject("test", str(n)), {"n": n}) for n in range(count)], actor=cli_actor()
        )
        assert sent == []  # nothing before the commit
    await asyncio.sleep(0)
    assert sent == []  # nor before the wait for other events to share the messages
    await asyncio.sleep(2 * outbox.HAND_OVER_WAIT)

    assert [name for name, _ in sent] == ["fan_out"] * 3
    assert [len(ids) for _, ids in sent] == [outbox.HAND_OVER_BATCH, outbox.HAND_OVER_BATCH, 5]
    assert [i for _, ids in sent for i in ids] == [str(e.id) for e in envelopes]


async def test_events_handed_over_within_the_wait_share_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    # As the commits of concurrent requests do when they complete within a few milliseconds.
    sent: list[tuple[str, tuple[str, ...]]] = []
    monkeypatch.setattr(outbox, "enqueue", lambda name, *args, delay=None: sent.append((name, args)))

    outbox.hand_over(["a", "b"])
    await asyncio.sleep(0)
    outbox.hand_over(["c"])
    assert sent == []
    await asyncio.sleep(2 * outbox.HAND_OVER_WAIT)
    outbox.hand_over(["d"])
    await asyncio.sleep(2 * outbox.HAND_OVER_WAIT)

    assert sent == [("fan_out", ("a", "b", "c")), ("fan_out", ("d",))]


async def test_events_waiting_for_their_message_are_sent_at_once_when_the_server_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[tuple[str, tuple[str, ...]]] = []
    monkeypatch.setattr(outbox, "enqueue", lambda name, *args, delay=None: sent.append((name, args)))

    outbox.hand_over(["a"])
    outbox.hand_over_now()
    assert sent == [("fan_out", ("a",))]
    await asyncio.sleep(2 * outbox.HAND_OVER_WAIT)
    assert sent == [("fan_out", ("a",))]  # the scheduled send found nothing left

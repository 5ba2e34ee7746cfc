"""The broker: in-process worker threads in embedded mode, Redis in production."""

from __future__ import annotations

import asyncio
import threading

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from litestar import Litestar

from appliance.catalog.tables import Branch
from appliance.testing.builders import make_branch
from appliance.worker.broker import create_broker
from tests.conftest import REDIS_TEST_URL, make_settings


async def test_embedded_app_runs_async_actors_that_query_the_database(app: Litestar) -> None:
    broker = app.state.broker
    results: list[tuple[int, str]] = []
    done = threading.Event()

    async def count_branches(label: str) -> None:
        results.append((await Branch.count(), label))
        done.set()

    actor = dramatiq.actor(count_branches, broker=broker, actor_name=f"count_branches_{id(app)}")
    await make_branch("静安店")
    await make_branch("徐汇店")

    actor.send("from the api")
    finished = await asyncio.to_thread(done.wait, 30)

    assert isinstance(broker, StubBroker)
    assert finished
    assert results == [(2, "from the api")]


def test_production_broker_is_redis(database_urls: dict[str, str]) -> None:
    broker = create_broker(make_settings(database_urls["postgresql"], APPLIANCE_REDIS_URL=REDIS_TEST_URL))
    try:
        assert isinstance(broker, RedisBroker)
        assert dramatiq.get_broker() is broker
        assert broker.client.ping() is True
    finally:
        broker.close()

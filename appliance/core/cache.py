"""The Redis connection of production mode (sessions, rate limits); embedded mode has none."""

from __future__ import annotations

from redis.asyncio import Redis


def open_redis(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)

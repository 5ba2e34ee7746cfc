"""Who a request comes from, behind trusted proxies, and what the per-client rate limits count it as."""

from __future__ import annotations

from typing import Any

from appliance.core.http import client_ip, rate_limit_network

PROXY = ("10.0.0.0/8",)


def scope(peer: str, *forwarded: str) -> dict[str, Any]:
    return {"client": (peer, 50000), "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}


def test_a_trusted_proxy_gives_the_last_hop_it_does_not_trust() -> None:
    assert client_ip(scope("10.0.0.2", "198.51.100.7"), PROXY) == "198.51.100.7"
    assert client_ip(scope("10.0.0.2", "203.0.113.9, 198.51.100.7, 10.0.0.1"), PROXY) == "198.51.100.7"


def test_a_line_the_client_sent_before_the_proxys_own_line_does_not_win() -> None:
    # HAProxy's `option forwardfor` adds a line of its own after whatever the client sent.
    assert client_ip(scope("10.0.0.2", "203.0.113.66", "198.51.100.7"), PROXY) == "198.51.100.7"


def test_an_untrusted_peer_is_itself_whatever_it_claims() -> None:
    assert client_ip(scope("198.51.100.7", "203.0.113.66"), PROXY) == "198.51.100.7"
    assert client_ip(scope("198.51.100.7", "203.0.113.66"), ()) == "198.51.100.7"


def test_rate_limits_count_an_ipv6_client_by_its_64_and_ipv4_by_address() -> None:
    first = rate_limit_network("2001:db8:1:2:aaaa::1")
    assert first == rate_limit_network("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert rate_limit_network("2001:db8:1:3::1") != first
    assert rate_limit_network("198.51.100.7") == "198.51.100.7" != rate_limit_network("198.51.100.8")
    assert rate_limit_network("::ffff:198.51.100.7") == "198.51.100.7"
    assert rate_limit_network(None) == "unknown"

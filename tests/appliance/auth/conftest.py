"""The real OpenID Provider, started once for every SSO test of this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.idp import Idp, run_idp


@pytest.fixture(scope="session")
def idp() -> Iterator[Idp]:
    yield from run_idp()

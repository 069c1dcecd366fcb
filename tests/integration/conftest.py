"""Fixtures of the integration tests: gateway subprocesses that never outlive a test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.support import GatewayProcess

SpawnGateway = Callable[[list[str], dict[str, str]], GatewayProcess]


@pytest.fixture
def spawn_gateway(tmp_path: Path) -> Iterator[SpawnGateway]:
    """Makes GatewayProcess objects (not started); every one is killed when the test ends."""
    made: list[GatewayProcess] = []

    def spawn(args: list[str], env: dict[str, str]) -> GatewayProcess:
        gateway = GatewayProcess(args, env, tmp_path)
        made.append(gateway)
        return gateway

    try:
        yield spawn
    finally:
        for gateway in made:
            gateway.kill()

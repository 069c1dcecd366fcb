"""deploy/Dockerfile: hadolint-clean, and built and run for real with podman on a base made from
Debian's packages (no registry is reachable here), with deploy/podman/containers.conf, the
settings this machine kind needs. The running image answers /health, its HEALTHCHECK passes,
it runs as its own user in dialout, keeps the store on its volume and stops gracefully."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BASE = "localhost/telemetryhub-base:bookworm"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # the host's, so pip trusts its TLS proxy too


def test_the_dockerfile_is_hadolint_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _podman(*args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(ROOT / "deploy" / "podman" / "containers.conf")}
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout_s, env=env, check=False
    )


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    if shutil.which("podman") is None or os.geteuid() != 0:
        pytest.skip("needs podman (tools/setup --test installs it) and root")
    if _podman("image", "exists", BASE).returncode != 0:
        built = subprocess.run(
            [str(ROOT / "deploy" / "podman" / "build-base.sh"), BASE],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert built.returncode == 0, built.stderr[-3000:]
    tag = f"localhost/telemetryhub:test-{uuid.uuid4().hex[:8]}"
    result = _podman(
        "build", "--format", "docker", "--network", "host", "-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro",
        "--build-arg", f"BASE={BASE}", "-f", str(DOCKERFILE), "-t", tag, str(ROOT),
        timeout_s=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    yield tag
    _podman("rmi", "--force", tag)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_health(url: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return str(answer.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)  # bounded poll of a process in a container; no event to wait on


@pytest.mark.slow
def test_the_image_runs_healthy_as_its_own_user_and_stops_gracefully(image: str) -> None:
    name, port = f"telemetryhub-test-{uuid.uuid4().hex[:8]}", _free_port()
    volume = f"{name}-data"
    started = _podman(
        "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080",
        "-v", f"{volume}:/var/lib/telemetryhub", image,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        assert '"status":"ok"' in _wait_for_health(f"http://127.0.0.1:{port}/health", 60)
        assert _podman("healthcheck", "run", name).returncode == 0  # the image's HEALTHCHECK
        ids = _podman("exec", name, "id").stdout
        assert "uid=10001(telemetryhub)" in ids
        assert "(dialout)" in ids
        files = _podman("exec", name, "ls", "/var/lib/telemetryhub").stdout.split()
        assert {"telemetry.db", "operator.token"} <= set(files)
        assert _podman("stop", "--time", "30", name).returncode == 0
        state = _podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        logs = _podman("logs", name).stdout
        assert state == "0", logs
        assert "telemetryhub stopped:" in logs
    finally:
        _podman("rm", "--force", name)
        _podman("volume", "rm", "--force", volume)

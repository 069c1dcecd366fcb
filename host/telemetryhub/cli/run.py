"""`telemetryhub run`: builds the gateway from settings, serves it, shuts it down in order."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TextIO

from telemetryhub import logs, sdnotify, tracing
from telemetryhub.api.bootstrap import start_api
from telemetryhub.api.server import ApiServer
from telemetryhub.config import (
    Settings,
    diff_settings,
    load_settings,
    needs_restart,
)
from telemetryhub.core.gateway import CoreSettings, GatewayCore
from telemetryhub.core.status import summary_lines
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.errors import ConfigError, TelemetryHubError
from telemetryhub.fleet.loop import LoopSettings
from telemetryhub.fleet.port import PortSettings
from telemetryhub.store.sqlite import SqliteStore
from telemetryhub.transport.base import Transport
from telemetryhub.transport.discovery import resolve_port
from telemetryhub.transport.serial_port import SerialTransport
from telemetryhub.uplink.factory import build_uplinks

_log = logging.getLogger("telemetryhub.run")

PROGRESS_INTERVAL_S = 1.0


def cli_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The {"section.key": value} overrides that command-line flags ask for."""
    overrides: dict[str, object] = {}
    if args.device:
        overrides["gateway.device"] = args.device
    if args.data_dir:
        overrides["gateway.data_dir"] = str(args.data_dir)
    if args.log_level:
        overrides["gateway.log_level"] = args.log_level
    if args.log_format:
        overrides["gateway.log_format"] = args.log_format
    if args.http:
        host, _, port = args.http.rpartition(":")
        if not host or not port:
            raise ConfigError(f"--http {args.http!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
        overrides["http.host"], overrides["http.port"] = host, port
    return overrides


def core_settings(settings: Settings) -> CoreSettings:
    return CoreSettings(
        queue_capacity=settings.gateway.queue_capacity,
        pool_workers=settings.gateway.pool_workers,
        min_value=settings.validation.min_value,
        max_value=settings.validation.max_value,
        autostart=settings.gateway.autostart,
        period_ms=settings.device.period_ms,
        link=LoopSettings(port=PortSettings(backoff_max_s=settings.device.reconnect_max_s)),
    )


@contextlib.contextmanager
def transport_factory(settings: Settings) -> Iterator[Callable[[], Transport]]:
    """A factory of fresh transports for the configured device (an emulator is started here)."""
    device = settings.gateway.device
    if device == "sim":
        board = SimulatedBoard(period_ms=settings.device.period_ms)
        yield lambda: board
    elif device == "emulator":
        from telemetryhub.emulator.board import BoardEmulator

        with BoardEmulator() as emulator:
            yield lambda: SerialTransport(emulator.port, settings.device.baudrate)
    else:
        usb_serial = settings.device.usb_serial or None

        def open_port() -> Transport:
            port = resolve_port(device, usb_serial)
            return SerialTransport(port, settings.device.baudrate)

        yield open_port


class Gateway:
    """A running gateway: core, store, API server and the signal-driven main loop."""

    def __init__(self, args: argparse.Namespace, out: TextIO | None = None) -> None:
        self._args = args
        self._out = out or sys.stdout
        self._overrides = cli_overrides(args)
        self.settings = load_settings(args.config, overrides=self._overrides)
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._store: SqliteStore | None = None

    def run(self) -> int:
        logs.configure_logging(self.settings.gateway.log_level, self.settings.gateway.log_format)
        data_dir = Path(self.settings.gateway.data_dir)
        with contextlib.ExitStack() as stack:
            tracing.start(self.settings.tracing)
            stack.callback(tracing.shutdown)  # last out: exports the final spans
            factory = stack.enter_context(transport_factory(self.settings))
            store = self._store = SqliteStore.in_data_dir(data_dir)
            stack.callback(store.close)
            core = GatewayCore(
                store,
                core_settings(self.settings),
                build_uplinks(self.settings, store),
                index=store,
            )
            core.add_source(self.settings.gateway.device, factory)
            server = self._serve(core, data_dir)
            stack.enter_context(self._signals())
            core.open()
            sdnotify.notify(sdnotify.READY)
            try:
                self._main_loop(core)
            finally:
                sdnotify.notify(sdnotify.STOPPING)
                if server is not None:
                    server.stop()
                summary = core.close()
            print("telemetryhub stopped:", file=self._out)
            for line in summary_lines(summary):
                print(f"  {line}", file=self._out)
        return 0

    def _serve(self, core: GatewayCore, data_dir: Path) -> ApiServer | None:
        if self._args.no_http:
            return None
        return start_api(core, self.settings.http, data_dir, self._out)

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM stop, SIGHUP reloads; the previous handlers come back afterwards."""

        def on_stop(signum: int, frame: FrameType | None) -> None:
            self._stop.set()

        def on_hup(signum: int, frame: FrameType | None) -> None:
            self._reload.set()

        handlers = {signal.SIGINT: on_stop, signal.SIGTERM: on_stop, signal.SIGHUP: on_hup}
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _main_loop(self, core: GatewayCore) -> None:
        deadline = None if self._args.duration is None else time.monotonic() + self._args.duration
        progress = _Progress(core, self._out) if self._out.isatty() else None
        while not self._stop.wait(PROGRESS_INTERVAL_S):
            if self._reload.is_set():
                self._reload.clear()
                sdnotify.notify(sdnotify.RELOADING)
                self.reload(core)
                sdnotify.notify(sdnotify.READY)
            if progress is not None:
                progress.show()
            if deadline is not None and time.monotonic() >= deadline:
                break
        if progress is not None:
            progress.done()

    def reload(self, core: GatewayCore) -> None:
        """SIGHUP: re-read the configuration and apply what can change live."""
        try:
            new = load_settings(self._args.config, overrides=self._overrides)
        except ConfigError as exc:
            _log.error("reload refused, keeping the running configuration: %s", exc)
            return
        changes = diff_settings(self.settings, new)
        uplinks = None
        if self._store and any(c.section in {"mqtt", "uplink_http", "store"} for c in changes):
            try:  # built before anything is applied, so a refusal leaves all as it was
                uplinks = build_uplinks(new, self._store)
            except (TelemetryHubError, OSError, ValueError) as exc:
                _log.error("reload refused, keeping the running configuration: %s", exc)
                return
        for change in needs_restart(changes):
            _log.warning("reload: [%s] %s changed but needs a restart", change.section, change.key)
        live = {(c.section, c.key) for c in changes if c.live}
        if ("gateway", "log_level") in live:
            logs.set_level(new.gateway.log_level)
        if ("device", "period_ms") in live:
            core.set_period(new.device.period_ms)
        if live & {("validation", "min_value"), ("validation", "max_value")}:
            core.validator.set_limits(new.validation.min_value, new.validation.max_value)
        if uplinks is not None:
            core.replace_uplinks(uplinks)
        self.settings = new
        _log.info("reload: applied %d live change(s)", len(live))


class _Progress:
    """One self-rewriting status line for a person at a terminal."""

    def __init__(self, core: GatewayCore, out: TextIO) -> None:
        self._core = core
        self._out = out
        self._last = (time.monotonic(), 0)

    def show(self) -> None:
        metrics = self._core.get_metrics()
        now, stored = time.monotonic(), metrics["samples_stored"]
        rate = (stored - self._last[1]) / max(now - self._last[0], 1e-6)
        self._last = (now, stored)
        line = (
            f"{self._core.device_state().label:<9}  {rate:8.0f} samples/s  "
            f"stored {stored}  queue {metrics['queue_depth']}/{metrics['queue_capacity']}  "
            f"dropped {metrics['samples_dropped']}"
        )
        self._out.write("\r" + line.ljust(79))
        self._out.flush()

    def done(self) -> None:
        self._out.write("\n")


def run_gateway(args: argparse.Namespace) -> int:
    return Gateway(args).run()

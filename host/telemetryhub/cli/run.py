"""`telemetryhub run`: builds the gateway from settings, serves it, shuts it down in order."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TextIO

from telemetryhub import logs, sdnotify, tracing
from telemetryhub.api.bootstrap import start_api
from telemetryhub.api.server import ApiServer
from telemetryhub.cli.sources import Sources
from telemetryhub.config import (
    Settings,
    diff_settings,
    load_settings,
    needs_restart,
)
from telemetryhub.core.commands import BoardPolicy
from telemetryhub.core.gateway import CoreSettings, GatewayCore
from telemetryhub.core.status import summary_lines
from telemetryhub.errors import ConfigError, TelemetryHubError
from telemetryhub.fleet.loop import LoopSettings
from telemetryhub.fleet.port import PortSettings
from telemetryhub.store.sqlite import SqliteStore
from telemetryhub.uplink.factory import build_uplinks

_log = logging.getLogger("telemetryhub.run")

PROGRESS_INTERVAL_S = 1.0


def cli_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The {"section.key": value} overrides that command-line flags ask for."""
    overrides: dict[str, object] = {}
    if args.device:  # --device may be given several times
        overrides["gateway.device"] = ",".join(args.device)
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
    """The engine's settings: shared defaults, and each [board:<id>] section over them."""
    g = settings.gateway
    boards = {
        b.device_id: BoardPolicy(
            b.period_ms if b.period_ms is not None else settings.device.period_ms,
            g.autostart if b.autostart is None else b.autostart,
        )
        for b in settings.boards
    }
    return CoreSettings(
        boards=boards,
        device_limits=device_limits(settings),
        queue_capacity=settings.gateway.queue_capacity,
        pool_workers=settings.gateway.pool_workers,
        min_value=settings.validation.min_value,
        max_value=settings.validation.max_value,
        autostart=settings.gateway.autostart,
        period_ms=settings.device.period_ms,
        link=LoopSettings(port=PortSettings(backoff_max_s=settings.device.reconnect_max_s)),
    )


def device_limits(settings: Settings) -> dict[str, tuple[float, float]]:
    """Each [board:<id>] section's accepted value range (where it sets one)."""
    v = settings.validation
    return {
        b.device_id: (
            v.min_value if b.min_value is None else b.min_value,
            v.max_value if b.max_value is None else b.max_value,
        )
        for b in settings.boards
        if b.min_value is not None or b.max_value is not None
    }


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
        self._sources: Sources | None = None

    def run(self) -> int:
        logs.configure_logging(self.settings.gateway.log_level, self.settings.gateway.log_format)
        data_dir = Path(self.settings.gateway.data_dir)
        with contextlib.ExitStack() as stack:
            tracing.start(self.settings.tracing)
            stack.callback(tracing.shutdown)  # last out: exports the final spans
            store = self._store = SqliteStore.in_data_dir(data_dir)
            stack.callback(store.close)
            core = GatewayCore(
                store,
                core_settings(self.settings),
                build_uplinks(self.settings, store),
                index=store,
            )
            sources = self._sources = stack.enter_context(Sources(core))
            sources.apply(self.settings)
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
            core.set_period_where_default(new.device.period_ms)
        if live & {("validation", "min_value"), ("validation", "max_value"), ("board", "*")}:
            core.validator.set_limits(new.validation.min_value, new.validation.max_value)
            core.validator.set_device_limits(device_limits(new))
        if uplinks is not None:
            core.replace_uplinks(uplinks)
        if self._sources is not None and ("gateway", "device") in live:
            self._sources.apply(new)
        if ("board", "*") in live or live & {("gateway", "autostart"), ("device", "period_ms")}:
            core.configure_boards(core_settings(new))
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

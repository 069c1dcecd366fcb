"""PortWatcher: `device = auto` made live: every serial port that looks like a board is attached
within `interval_s` of appearing, and let go of when it vanishes (its board stays listed,
offline). One thread, `port-watch`, whatever the number of boards."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from telemetryhub.errors import TelemetryHubError
from telemetryhub.fleet.loop import LinkLoop
from telemetryhub.fleet.port import TransportFactory
from telemetryhub.transport.discovery import PortInfo

_log = logging.getLogger(__name__)

Discover = Callable[[], list[PortInfo]]  # telemetryhub.transport.discovery.find_boards


class PortWatcher:
    """Keeps the loop's ports equal to the boards `discover` finds; start/stop, joined."""

    def __init__(
        self,
        loop: LinkLoop,
        discover: Discover,
        factory_for: Callable[[str], TransportFactory],
        interval_s: float = 1.0,
    ) -> None:
        self._loop = loop
        self._discover = discover
        self._factory_for = factory_for
        self._interval_s = interval_s
        self._attached: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="port-watch")

    def __enter__(self) -> PortWatcher:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def let_go(self) -> None:
        """Remove every port this watcher attached (it is stopped first)."""
        for path in sorted(self._attached):
            self._loop.remove_port(path)
        self._attached = set()

    def scan(self) -> None:
        """One look at the ports: attach the new boards, let go of the vanished ones."""
        try:
            found = {info.device for info in self._discover()}
        except TelemetryHubError as exc:
            _log.warning("listing serial ports failed: %s", exc)
            return
        for path in sorted(found - self._attached):
            _log.info("board port %s appeared: attaching it", path)
            self._loop.add_port(path, self._factory_for(path))
        for path in sorted(self._attached - found):
            _log.info("board port %s vanished: its board is offline", path)
            self._loop.remove_port(path)
        self._attached = found

    def _run(self) -> None:
        """port-watch: scan, then wait `interval_s`, until stopped."""
        while not self._stop.is_set():
            self.scan()
            self._stop.wait(self._interval_s)

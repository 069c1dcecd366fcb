"""FakeCloud: a real HTTP server on 127.0.0.1 that answers POSTs from a script of behaviours."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from telemetryhub.uplink.ledger import DeliveryLedger

OK = "ok"
FAIL = "500"
HANG = "hang"  # answer only after the client gave up


def throttle(retry_after_s: int) -> str:
    return f"429:{retry_after_s}"


class FakeCloud:
    """Pops one behaviour per request (then `OK` forever); a 2xx records the batch in `ledger`."""

    def __init__(self, script: Iterable[str] = ()) -> None:
        self.script: deque[str] = deque(script)
        self.ledger = DeliveryLedger()
        self.requests: list[tuple[float, str]] = []  # (monotonic time, behaviour)
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/ingest"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-cloud")

    def __enter__(self) -> FakeCloud:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def times_of(self, behaviour: str) -> list[float]:
        with self._lock:
            return [at for at, b in self.requests if b == behaviour]

    def _next(self) -> str:
        with self._lock:
            behaviour = self.script.popleft() if self.script else OK
            self.requests.append((time.monotonic(), behaviour))
            return behaviour

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                behaviour = cloud._next()
                if behaviour == HANG:
                    cloud.release.wait(10)
                    return
                if behaviour.startswith("429:"):
                    self._reply(429, {"Retry-After": behaviour[4:]})
                elif behaviour == FAIL:
                    self._reply(500)
                else:
                    cloud.ledger.add_payload(json.loads(body))
                    self._reply(200)

            def _reply(self, code: int, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

        return Handler

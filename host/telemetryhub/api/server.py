"""Serves the WSGI app with waitress on one named thread; start() starts, stop() closes and joins.

TLS is not served here: waitress speaks plain HTTP only, so HTTPS is terminated by a reverse
proxy (nginx, Caddy) in front of the gateway. Passing TLS settings raises ConfigError rather than
silently serving plain HTTP.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress.server import create_server

from telemetryhub.api.settings import TlsSettings
from telemetryhub.errors import ConfigError

_JOIN_TIMEOUT_S = 10.0


class ApiServer:
    """A waitress server for `app` on (host, port); port 0 picks a free port (see `port`)."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 8080,
        tls: TlsSettings | None = None,
        threads: int = 8,
        max_body_bytes: int = 1 << 20,
    ) -> None:
        if tls is not None:
            raise ConfigError(
                "the gateway serves plain HTTP only; terminate TLS in a reverse proxy "
                f"(nginx/Caddy) and remove the TLS settings (cert {tls.cert_path!r})"
            )
        # waitress warns on every queued task under load; that logging costs ~25 % throughput.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self._server: Any = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="telemetryhub",
            max_request_body_size=max_body_bytes,
            clear_untrusted_proxy_headers=True,
            channel_timeout=30,
        )
        self._thread = threading.Thread(target=self._run, name="http-server", daemon=False)
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked)."""
        return int(self._server.effective_port)

    @property
    def host(self) -> str:
        """The bound address."""
        return str(self._server.effective_host)

    @property
    def url(self) -> str:
        """http://host:port of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Begin serving on the "http-server" thread."""
        with self._lock:
            if self._started:
                return
            self._started = True
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, finish running requests, close every connection, join. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            started = self._started
        if not started:
            self._server.close()
            self._server.task_dispatcher.shutdown()
            return
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=_JOIN_TIMEOUT_S)
        self._server.trigger.pull_trigger(self._close_all)
        self._thread.join(_JOIN_TIMEOUT_S)
        if self._thread.is_alive():
            raise RuntimeError("http-server thread did not stop")  # pragma: no cover

    def _run(self) -> None:
        self._server.run()

    def _close_all(self) -> None:
        # Runs on the http-server thread (a trigger thunk): closing every dispatcher empties the
        # asyncore map, which ends the loop.
        for dispatcher in list(self._server._map.values()):
            dispatcher.close()

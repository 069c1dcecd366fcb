"""Serves the WSGI app on one named thread, HTTP or HTTPS; start() starts, stop() closes and joins.

Plain HTTP runs on waitress (measured faster). waitress has no TLS, so when TlsSettings are
given the app is served by cheroot with the standard library's ssl (TLS 1.2 or newer) instead.
Both bind in the constructor, so `port` is known before start(); a missing or unreadable
certificate or key raises ConfigError naming the file.

The app enforces `max_body_bytes` itself (a JSON 413 with the request id and security headers,
counted like every answer). Neither server answers for it: waitress's own limit sits above the
app's and, when a body passes even that, the request still goes to the app to be refused;
cheroot streams bodies to the app and closes the connection after a 413, so it needs none.
"""

from __future__ import annotations

import logging
import ssl
import threading
from typing import TYPE_CHECKING, Any, Protocol

from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask, WSGITask
from waitress.utilities import RequestEntityTooLarge

from telemetryhub.api.guard import BODY_TOO_LARGE
from telemetryhub.api.settings import TlsSettings
from telemetryhub.errors import ConfigError

if TYPE_CHECKING:  # cheroot is the optional `tls` extra: imported only to serve HTTPS
    from cheroot.ssl.builtin import BuiltinSSLAdapter

_JOIN_TIMEOUT_S = 10.0
_LISTEN_BACKLOG = 1024
_CONNECTION_TIMEOUT_S = 30
# waitress reads a body whole before calling the app; this much past the app's limit it still
# reads (so a slightly large body gets its 413 on a connection that stays usable, and chunk
# framing does not count against the payload), beyond it stops reading and closes.
_WAITRESS_BODY_SLACK_BYTES = 64 * 1024

_log = logging.getLogger(__name__)


class _Backend(Protocol):
    """One WSGI server implementation, bound at construction."""

    scheme: str

    @property
    def port(self) -> int: ...

    @property
    def host(self) -> str: ...

    def run(self) -> None:
        """Serve until shutdown(); runs on the http-server thread."""

    def shutdown(self) -> None:
        """Make run() return and close every connection (called from any thread)."""

    def close_unstarted(self) -> None:
        """Release the socket and workers of a server whose run() never ran."""


class ApiServer:
    """A server for `app` on (host, port), HTTPS when `tls` is given; port 0 picks a free port.

    `max_body_bytes` is the app's own limit (ApiSettings.max_body_bytes): bodies up to it pass,
    and the app itself refuses larger ones (see the module docstring).
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 8080,
        tls: TlsSettings | None = None,
        threads: int = 8,
        max_body_bytes: int = 1 << 20,
    ) -> None:
        self._backend: _Backend
        if tls is None:
            self._backend = _WaitressBackend(app, host, port, threads, max_body_bytes)
        else:
            self._backend = _CherootTlsBackend(app, host, port, tls, threads)
        self._thread = threading.Thread(target=self._backend.run, name="http-server", daemon=False)
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked)."""
        return self._backend.port

    @property
    def host(self) -> str:
        """The bound address."""
        return self._backend.host

    @property
    def url(self) -> str:
        """http://host:port (https:// with TLS) of the running server."""
        return f"{self._backend.scheme}://{self.host}:{self.port}"

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
            self._backend.close_unstarted()
            return
        self._backend.shutdown()
        self._thread.join(_JOIN_TIMEOUT_S)
        if self._thread.is_alive():
            raise RuntimeError("http-server thread did not stop")  # pragma: no cover


class _WaitressBackend:
    """Plain HTTP on waitress."""

    scheme = "http"

    def __init__(self, app: Any, host: str, port: int, threads: int, max_body_bytes: int) -> None:
        # waitress warns on every queued task under load; that logging costs ~25 % throughput.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self._server: Any = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="telemetryhub",
            # waitress refuses a body of this size or more (`>=`), the app only a larger one
            max_request_body_size=max_body_bytes + 1 + _WAITRESS_BODY_SLACK_BYTES,
            clear_untrusted_proxy_headers=True,
            channel_timeout=_CONNECTION_TIMEOUT_S,
        )
        self._server.channel_class = _WaitressChannel  # read by the accept handler

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def host(self) -> str:
        return str(self._server.effective_host)

    def run(self) -> None:
        self._server.run()

    def shutdown(self) -> None:
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=_JOIN_TIMEOUT_S)
        self._server.trigger.pull_trigger(self._close_all)

    def close_unstarted(self) -> None:
        self._server.close()
        self._server.task_dispatcher.shutdown()

    def _close_all(self) -> None:
        # Runs on the http-server thread (a trigger thunk): closing every dispatcher empties the
        # asyncore map, which ends the loop.
        for dispatcher in list(self._server._map.values()):
            dispatcher.close()


class _BodyTooLargeTask(WSGITask):  # type: ignore[misc]  # waitress has no type hints
    """Runs the app for a request whose body waitress refused to read, marked so in environ."""

    def execute(self) -> None:
        # The unread rest of the body would be parsed as the next request: close after this.
        self.set_close_on_finish()
        super().execute()

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ[BODY_TOO_LARGE] = True
        return environ


def _error_task(channel: Any, request: Any) -> Any:
    """The app answers a body too large; waitress answers what it could not parse."""
    if isinstance(request.error, RequestEntityTooLarge):
        return _BodyTooLargeTask(channel, request)
    return ErrorTask(channel, request)


class _WaitressChannel(HTTPChannel):  # type: ignore[misc]  # waitress has no type hints
    """waitress's connection, except that the app (not waitress) refuses a too-large body."""

    error_task_class = staticmethod(_error_task)


class _CherootTlsBackend:
    """HTTPS on cheroot with the standard library's ssl, TLS 1.2 or newer."""

    scheme = "https"

    def __init__(self, app: Any, host: str, port: int, tls: TlsSettings, threads: int) -> None:
        adapter = _ssl_adapter(tls)
        from cheroot.wsgi import Server as CherootServer

        # cheroot's defaults (a listen backlog of 5, keep-alive for 10 connections) drop the
        # reconnects of a few dozen clients; waitress's backlog and unlimited keep-alive instead.
        server: Any = CherootServer(
            (host, port),
            app,
            numthreads=threads,
            server_name="telemetryhub",
            request_queue_size=_LISTEN_BACKLOG,
        )
        server.keep_alive_conn_limit = _LISTEN_BACKLOG
        server.ssl_adapter = adapter
        # 0: no limit of cheroot's own. The app refuses a Content-Length above max_body_bytes
        # before reading (cheroot then closes instead of draining) and stops a chunked body at
        # the limit; cheroot's own refusal would be plain text.
        server.max_request_body_size = 0
        server.timeout = _CONNECTION_TIMEOUT_S
        server.error_log = _cheroot_error_log
        server.prepare()  # binds and listens, so the real port is known now
        self._server = server

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    @property
    def host(self) -> str:
        return str(self._server.bind_addr[0])

    def run(self) -> None:
        self._server.serve()

    def shutdown(self) -> None:
        self._server.stop()

    def close_unstarted(self) -> None:
        self._server.stop()


def _ssl_adapter(tls: TlsSettings) -> BuiltinSSLAdapter:
    """A cheroot adapter for the cert and key; ConfigError naming the file that cannot be used."""
    try:
        from cheroot.ssl.builtin import BuiltinSSLAdapter
    except ImportError as exc:
        raise ConfigError(
            f"[http] tls_cert = {tls.cert_path!r}: serving HTTPS needs cheroot, which is not "
            "installed (pip install 'telemetryhub[tls]')"
        ) from exc
    for label, path in (("certificate", tls.cert_path), ("private key", tls.key_path)):
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as exc:
            raise ConfigError(f"TLS {label} {path!r} cannot be read: {exc.strerror}") from exc
    try:
        # An empty password makes an encrypted key fail here instead of OpenSSL prompting on
        # the terminal at startup.
        adapter = BuiltinSSLAdapter(tls.cert_path, tls.key_path, private_key_password=b"")
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(
            f"TLS certificate {tls.cert_path!r} and key {tls.key_path!r} cannot be loaded "
            f"(expected a PEM certificate and its unencrypted PEM key): {exc}"
        ) from exc
    adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
    return adapter


def _cheroot_error_log(msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
    # cheroot writes these to stderr by default; route them to logging instead.
    _log.log(level, "%s", msg, exc_info=traceback)

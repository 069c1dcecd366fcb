"""Starts the API for the `run` command: settings from [http], the operator token, the server."""

from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import TextIO

from telemetryhub.api.app import create_app
from telemetryhub.api.auth import TOKEN_FILE_NAME, ensure_operator_token
from telemetryhub.api.contracts import GatewayView
from telemetryhub.api.requestid import RequestIdFilter
from telemetryhub.api.server import ApiServer
from telemetryhub.api.settings import ApiSettings, TlsSettings
from telemetryhub.config import HttpSettings
from telemetryhub.errors import ConfigError

_log = logging.getLogger("telemetryhub.api")


def api_settings(http: HttpSettings, operator_token: str) -> ApiSettings:
    """ApiSettings from the [http] section and the operator token in force."""
    tls = TlsSettings(http.tls_cert, http.tls_key) if http.tls_cert or http.tls_key else None
    return ApiSettings(
        operator_tokens=(operator_token,),
        viewer_tokens=(http.viewer_token,) if http.viewer_token else (),
        reads_open=http.reads_open,
        rate_per_s=http.rate_limit_per_s,
        rate_burst=http.rate_burst,
        max_body_bytes=http.max_body_bytes,
        metrics_max_devices=http.metrics_max_devices,
        tls=tls,
    )


def start_api(core: GatewayView, http: HttpSettings, data_dir: Path, out: TextIO) -> ApiServer:
    """Serve the API for `core`; prints where it listens and, once, a newly made token.

    Raises ConfigError naming [http] host and port when the address cannot be bound.
    """
    token = http.operator_token or _file_token(Path(data_dir), out)
    settings = api_settings(http, token)
    _stamp_request_ids()
    try:
        server = ApiServer(
            create_app(core, settings),
            http.host,
            http.port,
            tls=settings.tls,
            max_body_bytes=settings.max_body_bytes,
        )
    except OSError as exc:  # EADDRINUSE, EACCES below 1024, an address not on this host
        raise ConfigError(
            f"[http] host = {http.host!r}, port = {http.port}: cannot listen there "
            f"({exc.strerror or exc}); choose another with --http HOST:PORT or [http] port"
        ) from exc
    server.start()
    print(f"REST API and dashboard on {server.url}/", file=out)
    return server


def _stamp_request_ids() -> None:
    # Handler filters see records of every logger, so core logs made while serving a
    # request carry its id too.
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


def _file_token(data_dir: Path, out: TextIO) -> str:
    """The operator token kept in data_dir, made (0600) and shown once if absent."""
    token_path = data_dir / TOKEN_FILE_NAME
    created = not token_path.exists()
    try:
        if not created:
            _warn_if_shared(token_path)
        token = ensure_operator_token(data_dir)
    except OSError as exc:
        raise ConfigError(
            f"operator token file {token_path}: {exc.strerror or exc} "
            "(fix it, or set [http] operator_token)"
        ) from exc
    if created:
        print(f"operator token (saved in {token_path}, shown once): {token}", file=out)
    else:
        print(f"operator token: in {token_path}", file=out)
    return token


def _warn_if_shared(token_path: Path) -> None:
    mode = stat.S_IMODE(token_path.stat().st_mode)
    if mode & 0o077:
        _log.warning(
            "operator token file %s is open to group or others (mode %04o): chmod 600 %s",
            token_path,
            mode,
            token_path,
        )

"""Bearer tokens and roles: who may read, who may change the gateway, and token bootstrap."""

from __future__ import annotations

import enum
import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from telemetryhub.api.settings import ApiSettings
from telemetryhub.errors import ConfigError

TOKEN_FILE_NAME = "operator.token"


class Role(enum.IntEnum):
    """What a caller may do; a higher role includes the lower ones."""

    ANONYMOUS = 0
    VIEWER = 1
    OPERATOR = 2


class AuthFailure(enum.Enum):
    """Why a request was refused: no token (401) or a token that does not allow it (403)."""

    MISSING = 401
    FORBIDDEN = 403


class TokenAuthority:
    """Maps a presented token to a role, in constant time per configured token."""

    def __init__(self, settings: ApiSettings) -> None:
        self._tokens = [(t.encode(), Role.OPERATOR) for t in settings.operator_tokens] + [
            (t.encode(), Role.VIEWER) for t in settings.viewer_tokens
        ]
        self._reads_open = settings.reads_open

    def role_of(self, token: str) -> Role | None:
        """The role of `token`, or None when it is not a configured token."""
        presented = token.encode()
        found: Role | None = None
        for known, role in self._tokens:
            # No early exit: every token is compared so timing does not tell which matched.
            if hmac.compare_digest(presented, known) and found is None:
                found = role
        return found

    def check(
        self, authorization: str | None, remote_addr: str | None, need: Role
    ) -> AuthFailure | None:
        """None if the caller may proceed, else why not."""
        token = bearer_token(authorization)
        if token is None:
            if need is Role.VIEWER and self._reads_open and is_loopback(remote_addr):
                return None
            return AuthFailure.MISSING
        role = self.role_of(token)
        if role is None or role < need:
            return AuthFailure.FORBIDDEN
        return None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def is_loopback(remote_addr: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1."""
    if not remote_addr:
        return False
    try:
        return ipaddress.ip_address(remote_addr).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A random token (256 bits, URL-safe) that never starts with "-": `telemetryhub start
    --token TOKEN` would take such a token for an option (one token in 64 did)."""
    token = secrets.token_urlsafe(32)
    while token.startswith("-"):
        token = secrets.token_urlsafe(32)
    return token


def ensure_operator_token(data_dir: str | Path) -> str:
    """The operator token stored in data_dir/operator.token, created (mode 0600) if absent."""
    path = Path(data_dir) / TOKEN_FILE_NAME
    if path.exists():
        token = path.read_text(encoding="ascii").strip()
        if not token:
            raise ConfigError(f"{path} is empty; delete it to generate a new operator token")
        return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = new_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    return token

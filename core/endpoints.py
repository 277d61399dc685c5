"""Endpoint checks: the daemon binds to loopback (or ipc://) unless CurveZMQ keys are given."""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


class EndpointError(ValueError):
    pass


def is_local(endpoint: str) -> bool:
    """True for ipc://, inproc:// and tcp:// on a loopback address."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp" or not rest:
        raise EndpointError(f"endpoint must look like tcp://127.0.0.1:5757 or ipc:///path, got {endpoint!r}")
    host = urlsplit(f"//{rest}").hostname or ""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # an interface name, '*' or a hostname: treat as exposed


def check_bind(endpoint: str, curve: bool) -> None:
    """Refuse to expose the daemon beyond this machine without CurveZMQ encryption + auth."""
    if not is_local(endpoint) and not curve:
        raise EndpointError(
            f"refusing to bind {endpoint}: it is reachable from other machines and would let anyone run jobs. "
            "Bind to tcp://127.0.0.1:PORT or ipc://PATH, or pass --curve-secret KEYFILE and "
            "--curve-clients DIR (CurveZMQ) to allow remote clients securely.")

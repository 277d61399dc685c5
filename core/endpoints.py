"""Endpoint checks and CurveZMQ setup: the daemon binds to loopback (or ipc://) unless CurveZMQ keys are given."""
from __future__ import annotations

import ipaddress
from typing import Any
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


def enable_curve(context: Any, router: Any, secret_file: str, clients_dir: str | None) -> Any:
    """Make ``router`` a CurveZMQ server with the key pair in ``secret_file``; clients are authenticated
    against the public keys in ``clients_dir`` (any key when None). Returns the authenticator to stop."""
    import zmq.auth
    from zmq.auth.thread import ThreadAuthenticator

    public, secret = zmq.auth.load_certificate(secret_file)
    if secret is None:
        raise ValueError(f"{secret_file} holds no secret key (use the .key_secret file)")
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve(domain="*", location=clients_dir or zmq.auth.CURVE_ALLOW_ANY)
    router.curve_secretkey = secret
    router.curve_publickey = public
    router.curve_server = True
    return auth

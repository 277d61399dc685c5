"""A private Xvfb for GUI tests: ``start_xvfb()`` → (process, DISPLAY), checked with a real X11 handshake.

Xvfb picks a free display itself (``-displayfd``), so parallel or stale servers never collide as they
can with ``xvfb-run -a``. The display is then proven usable by the X11 connection handshake a client
makes (no auth, like Krita's), and a server that refuses it is replaced: 'could not connect to display'
once failed whole Krita runs here. ``-noreset``: by default an X server resets when its last client
leaves and refuses connections while it does, so one client's short connection (a host's probe at start-up,
this handshake) can make another's fail: 3 of 60 Qt clients started together on a fresh Xvfb failed without
it, 0 of 180 with it. Stdlib only.
"""
from __future__ import annotations

import os
import socket
import struct
import subprocess
from pathlib import Path


def x_handshake(display: str, timeout: float = 5.0) -> str | None:
    """None when an X client can connect to ``display`` (":N") over its unix socket, else why not."""
    number = display.lstrip(":").split(".")[0]
    setup = struct.pack("<cxHHHHxx", b"l", 11, 0, 0, 0)  # little endian, protocol 11.0, no authorisation
    for address in (f"\0/tmp/.X11-unix/X{number}", f"/tmp/.X11-unix/X{number}"):  # abstract first, as Xlib does
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(address)
                sock.sendall(setup)
                head = sock.recv(8)
                if head[:1] == b"\x01":
                    return None
                if len(head) >= 8:  # refused: the reason follows (length in head[1])
                    return f"refused: {sock.recv(head[1] or 64).decode(errors='replace')}"
                return f"bad reply {head!r}"
        except OSError as exc:
            reason = f"{address.lstrip(chr(0))}: {exc}"
    return reason


def start_xvfb(log: Path | None = None, attempts: int = 3, screen: str = "1280x800x24") -> tuple[subprocess.Popen, str]:
    """Start Xvfb on a free display and wait until a client can connect; raises RuntimeError saying why not."""
    problems = []
    for _ in range(attempts):
        read_fd, write_fd = os.pipe()
        err = open(log, "a") if log else subprocess.DEVNULL
        proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp",
                                 "-noreset"],
                                pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        display = f":{number}"
        problem = x_handshake(display) if number else f"Xvfb exited with {proc.wait()}"
        if problem is None:
            return proc, display
        problems.append(f"{display or '?'} {problem}")
        stop_process(proc)
    raise RuntimeError(f"no usable Xvfb display after {attempts} tries: {'; '.join(problems)}")


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate a process (Xvfb, a host), kill it if it lingers past 10 s, and reap it."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

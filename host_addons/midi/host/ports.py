"""The one module that touches MIDI I/O: opening ports (mido + python-rtmidi) and the real-time loop.

Virtual ports (``muselink in`` / ``muselink out``) on JACK, ALSA and CoreMIDI; on Windows (no
virtual ports) it connects to existing ports by name, e.g. loopMIDI's. Incoming messages are
time-stamped in rtmidi's callback thread and queued; the loop thread owns the engine and the
daemon client, waits on the queue until the next scheduled event, and sends on time.
"""
from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time

log = logging.getLogger("muselink.midi")

APIS = {"jack": "UNIX_JACK", "alsa": "LINUX_ALSA", "coremidi": "MACOSX_CORE", "windows": "WINDOWS_MM"}
CLIENT_NAMES = {"in": "muselink-in", "out": "muselink-out"}


class MidiUnavailable(RuntimeError):
    """No MIDI system to open ports on (JACK/ALSA not running, port not found)."""


def _what_to_start(api: str) -> str:
    if api == "jack":
        return ("no JACK server is running (start one: 'jackd -d alsa', or without a sound card "
                "'jackd --no-realtime -d dummy -r 48000')")
    if api == "alsa":
        return "the ALSA sequencer is not available (/dev/snd/seq missing: 'modprobe snd-seq')"
    return f"MIDI API {api} is not available on this system"


def backend(api: str = "auto"):
    """A mido backend for ``api`` (auto: JACK when a server runs, else ALSA / CoreMIDI / Windows MM)."""
    import mido

    os.environ.setdefault("JACK_NO_START_SERVER", "1")  # never spawn a JACK server behind the user's back
    if api != "auto":
        if api not in APIS:
            raise ValueError(f"--api must be auto, {', '.join(APIS)}; got {api!r}")
        candidates = [api]
    elif sys.platform == "darwin":
        candidates = ["coremidi"]
    elif sys.platform == "win32":
        candidates = ["windows"]
    else:
        candidates = ["jack", "alsa"]
    errors = []
    for name in candidates:
        be = mido.Backend(f"mido.backends.rtmidi/{APIS[name]}", load=True)
        try:
            be.get_input_names()
            return name, be
        except Exception as exc:  # rtmidi.SystemError when the API cannot initialise
            errors.append(_what_to_start(name) if name in ("jack", "alsa") else f"{name}: {exc}")
    raise MidiUnavailable("no MIDI system to open ports on: " + "; and ".join(errors)
                          + " — start JACK or ALSA, or use 'muselink midi continue/watch' with files")


def _find(names: list, wanted: str, direction: str) -> str:
    if wanted in names:
        return wanted
    matches = [n for n in names if wanted.lower() in n.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        listing = ", ".join(repr(n) for n in names) or "none"
        raise MidiUnavailable(f"no MIDI {direction} port named {wanted!r}; available: {listing}")
    raise MidiUnavailable(f"MIDI {direction} port name {wanted!r} is ambiguous: {', '.join(map(repr, matches))}")


def list_ports(api: str = "auto") -> dict:
    name, be = backend(api)
    return {"api": name, "inputs": be.get_input_names(), "outputs": be.get_output_names()}


def open_ports(api: str, inbox: queue.Queue, in_name: str = "muselink in", out_name: str = "muselink out",
               connect_in: str | None = None, connect_out: str | None = None):
    """Open the bridge's ports. Without ``connect_*`` it creates virtual ports named ``in_name`` /
    ``out_name`` (JACK: ``muselink-in:muselink in``, ``muselink-out:muselink out``); with them it
    connects to existing ports by (part of) their name. Returns ``(api, inport, outport)``."""
    api, be = backend(api)
    virtual = api != "windows"

    def stamp(msg):
        inbox.put((time.perf_counter(), msg))

    try:
        if connect_in:
            inport = be.open_input(_find(be.get_input_names(), connect_in, "input"), callback=stamp)
        elif virtual:
            inport = be.open_input(in_name, client_name=CLIENT_NAMES["in"], callback=stamp)
        else:
            raise MidiUnavailable("this MIDI API has no virtual ports: create one (e.g. with loopMIDI) and pass --connect-in")
        if connect_out:
            outport = be.open_output(_find(be.get_output_names(), connect_out, "output"))
        elif virtual:
            outport = be.open_output(out_name, client_name=CLIENT_NAMES["out"])
        else:
            inport.close()
            raise MidiUnavailable("this MIDI API has no virtual ports: create one (e.g. with loopMIDI) and pass --connect-out")
    except MidiUnavailable:
        raise
    except Exception as exc:
        raise MidiUnavailable(f"cannot open MIDI ports on {api}: {exc}") from None
    return api, inport, outport


def run(engine, inbox: queue.Queue, outport, stop: threading.Event, max_wait: float = 0.05) -> None:
    """Feed the engine from ``inbox`` and tick it until ``stop`` is set; All Notes Off on the way out."""
    engine.send = outport.send
    try:
        while not stop.is_set():
            wake = engine.tick()
            now = time.perf_counter()
            wait = max_wait if wake is None else min(max_wait, max(0.0, wake - now))
            try:
                t, msg = inbox.get(timeout=wait) if wait > 0.0005 else inbox.get_nowait()
            except queue.Empty:
                continue
            engine.feed(msg, t)
            while True:
                try:
                    t, msg = inbox.get_nowait()
                except queue.Empty:
                    break
                engine.feed(msg, t)
    finally:
        engine.shutdown()


def close(*ports) -> None:
    for port in ports:
        try:
            port.close()
        except Exception:  # noqa: BLE001
            pass

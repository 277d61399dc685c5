"""The docker's brain, free of Qt and Krita: connection, capability list, jobs, live mode.

The Qt panel calls :meth:`Controller.tick` from a ``QSocketNotifier`` on the client's FDs and
from a ~100 ms ``QTimer``; ``tick`` never blocks (``Client.drain`` plus non-blocking sends). The
host is reached only through the host-adapter hooks (``muselink_host_capture`` /
``muselink_host_apply``) of the plugin manager it is given. Every entry point catches its own
exceptions and shows them in :class:`PanelState` — an exception escaping into Qt would open a
modal dialog inside Krita.
"""
from __future__ import annotations

import random
import sys
import time
import traceback
import uuid
import zlib
from dataclasses import dataclass, field
from collections.abc import Callable

from .deps import Client, DaemonUnavailable, hostspec, protocol as P
from .form import form_for, params_from_values, takes_mask, usable
from .live import LiveScheduler

HELLO_EVERY_DOWN = 1.0  # s between reconnect attempts while disconnected
HELLO_EVERY_UP = 5.0  # s between liveness checks while connected
HELLO_TIMEOUT = 4.0  # s without an answer to hello → disconnected
LIVE_POLL = 0.3  # s between live-mode looks at the canvas


@dataclass
class PanelState:
    """Everything the panel shows; the panel renders it, the tests read it."""

    endpoint: str = ""
    connected: bool = False
    connection_text: str = "connecting…"
    capabilities: list = field(default_factory=list)  # the daemon's capability schemas
    busy: bool = False
    progress: float = 0.0
    progress_text: str = ""
    preview: object = None  # ImageData of the latest step preview, or None
    message: str = ""
    error: bool = False
    live: bool = False
    last_layer: str = ""
    version: int = 0  # bumped on every change, so the panel repaints only when needed


@dataclass
class _Job:
    handle: object
    capture: object
    capability: str
    params: dict
    live_seq: int = 0  # 0: a one-shot Apply


class Controller:
    def __init__(self, pm, view: Callable[[PanelState], None] | None = None, endpoint: str | None = None,
                 name: str = "krita", clock: Callable[[], float] = time.monotonic, live_pause: float = 0.6):
        self.pm = pm
        self.view = view
        self.clock = clock
        self.client = Client(endpoint, name=name, timeout=0.25)
        self.state = PanelState(endpoint=self.client.endpoint)
        self.jobs: dict = {}  # job id -> _Job
        self.live = LiveScheduler(pause=live_pause)
        self.live_session = f"{name}-live-{uuid.uuid4().hex[:8]}"
        self.live_settings: Callable[[], tuple] | None = None  # () -> (capability, values, source)
        self.live_applied = None  # hostspec.Applied of the live layer
        self._live_rng_seed = 0
        self._last_live_look = float("-inf")
        self._hello_sent_at: float | None = None
        self._last_hello = float("-inf")
        self._shown_version = -1
        self._in_tick = False

    # ---- helpers -----------------------------------------------------------------------------
    def _changed(self) -> None:
        self.state.version += 1

    def _say(self, text: str, error: bool = False) -> None:
        self.state.message, self.state.error = text, error
        self._changed()

    def _internal(self, where: str, exc: BaseException) -> None:
        traceback.print_exc(file=sys.stderr)
        self._say(f"{where} failed: {type(exc).__name__}: {exc}", error=True)

    def render(self) -> None:
        if self.view is not None and self.state.version != self._shown_version:
            self._shown_version = self.state.version
            try:
                self.view(self.state)
            except Exception as exc:  # never let a view error escape into Qt
                traceback.print_exc(file=sys.stderr)
                self.state.message = f"panel update failed: {exc}"

    @property
    def capabilities(self) -> dict:
        return {c["name"]: c for c in self.state.capabilities}

    # ---- connection --------------------------------------------------------------------------
    def _send_hello(self, now: float) -> None:
        # the Status answer comes back through drain(), so the UI thread never blocks
        self._last_hello = now
        try:
            self.client.send_hello()
        except DaemonUnavailable:
            self._set_disconnected(f"muselink daemon not running at {self.client.endpoint} — start it with "
                                   "'muselink serve'; reconnecting…")
            return
        self._hello_sent_at = now

    def _set_connected(self, status) -> None:
        self._hello_sent_at = None
        caps = list(status.capabilities)
        if not self.state.connected or caps != self.state.capabilities:
            self.state.connected = True
            self.state.capabilities = caps
            self.state.connection_text = f"connected to muselink {status.daemon_version} at {self.client.endpoint}"
            self._changed()

    def _set_disconnected(self, why: str) -> None:
        self._hello_sent_at = None
        if self.state.connected or self.state.connection_text != why:
            self.state.connected = False
            self.state.connection_text = why
            self._changed()

    # ---- the tick ----------------------------------------------------------------------------
    def tick(self) -> None:
        """Drain replies, keep the connection alive, run live mode. Never blocks, never raises."""
        if self._in_tick:  # re-entered from a nested event loop (e.g. while a result is applied)
            return
        self._in_tick = True
        try:
            now = self.clock()
            was_connected = self.client.connected
            for message in self.client.drain():
                if isinstance(message, P.Status):
                    self._set_connected(message)
            if was_connected and not self.client.connected:
                self._set_disconnected("disconnected: the muselink daemon stopped or crashed; reconnecting…")
                self._last_hello = now  # give it a moment before the first retry
            if self._hello_sent_at is not None and now - self._hello_sent_at > HELLO_TIMEOUT:
                self._set_disconnected(f"disconnected: no answer from the muselink daemon at {self.client.endpoint} "
                                       f"within {HELLO_TIMEOUT:.0f} s; reconnecting…")
            interval = HELLO_EVERY_UP if self.state.connected else HELLO_EVERY_DOWN
            if self._hello_sent_at is None and now - self._last_hello >= interval:
                self._send_hello(now)
            if self.state.live and self.state.connected and now - self._last_live_look >= LIVE_POLL:
                self._last_live_look = now
                self._live_step(now)
        except Exception as exc:
            self._internal("update", exc)
        finally:
            self._in_tick = False
        self.render()

    # ---- jobs ----------------------------------------------------------------------------------
    def _prepare(self, capability: str, values: dict, source: str, rng=None, live: bool = False):
        cap = self.capabilities.get(capability)
        if cap is None:
            raise ValueError(f"the daemon has no capability {capability!r}" if self.state.connected
                             else "not connected to the muselink daemon")
        ok, why = usable(cap)
        if not ok:
            raise ValueError(f"{capability} cannot run from Krita: {why}")
        params = params_from_values(form_for(cap), values, rng)
        request = hostspec.CaptureRequest(capability=capability, source=source, options={"mask": takes_mask(cap), "live": live})
        capture = self.pm.hook.muselink_host_capture(request=request)
        if capture is None:
            raise ValueError("open a document first")
        return capture, params

    def _submit(self, capture, capability: str, params: dict, live_seq: int = 0) -> None:
        job_box: list = []
        handle = self.client.submit(capability, capture.payloads, params,
                                    session=self.live_session if live_seq else None,
                                    on_event=lambda event: self._on_event(job_box[0], event))
        job = _Job(handle, capture, capability, params, live_seq)
        job_box.append(job)
        self.jobs[handle.id] = job
        self.state.busy = True
        self.state.progress, self.state.progress_text, self.state.preview = 0.0, "sending…", None
        self._changed()

    def apply(self, capability: str, values: dict, source: str = "layer") -> bool:
        """Apply/Generate: capture the region, submit, and later put the result in a new layer."""
        try:
            if not self.state.connected:
                raise ValueError("not connected to the muselink daemon (start it with 'muselink serve')")
            if any(not j.live_seq for j in self.jobs.values()):
                raise ValueError("a job is already running; cancel it or wait")
            capture, params = self._prepare(capability, values, source)
            self._submit(capture, capability, params)
            self._say(f"running {capability} on {capture.description}…")
            return True
        except (ValueError, DaemonUnavailable) as exc:
            self._say(str(exc), error=True)
        except Exception as exc:
            self._internal("apply", exc)
        finally:
            self.render()
        return False

    def cancel(self) -> None:
        try:
            for job_id in list(self.jobs):
                self.client.cancel(job_id)
            self.client.drain()
        except Exception as exc:
            self._internal("cancel", exc)
        self.render()

    def _on_event(self, job: _Job, event) -> None:
        try:
            if isinstance(event, P.Accepted):
                self.state.progress_text = f"queued on {event.lane}" + (f" (position {event.position})" if event.position else "")
            elif isinstance(event, P.Progress):
                self.state.progress = event.fraction
                self.state.progress_text = event.message or f"{event.fraction:.0%}"
                if event.preview is not None:
                    self.state.preview = event.preview
            elif isinstance(event, P.TERMINAL):
                try:
                    self._finish(job, event)  # may spin Krita's event loop (refreshProjection)
                finally:
                    self.jobs.pop(job.handle.id, None)
                    self.state.busy = bool(self.jobs)
            self._changed()
            self.render()  # show every progress step, even when several replies arrive in one drain
        except Exception as exc:
            self._internal("handling the daemon's reply", exc)

    def _finish(self, job: _Job, event) -> None:
        if isinstance(event, P.Result):
            apply_it = self.live.finished(job.live_seq, True) if job.live_seq else True
            if not apply_it:
                return
            meta = {**event.meta, "capability": job.capability, "params": job.params, "live": bool(job.live_seq)}
            replace = self.live_applied if job.live_seq else None
            try:
                applied = self.pm.hook.muselink_host_apply(capture=job.capture, payloads=event.payloads, meta=meta,
                                                           replace=replace)
            except ValueError as exc:
                self._say(f"could not place the result: {exc}", error=True)
                return
            if job.live_seq:
                self.live_applied = applied
            self.state.last_layer = applied.name if applied is not None else ""
            self.state.progress, self.state.progress_text = 1.0, "done"
            self._say(f"done: new layer '{self.state.last_layer}'" if not job.live_seq
                      else f"live: updated '{self.state.last_layer}'")
            return
        if job.live_seq:
            self.live.finished(job.live_seq, False)
        if isinstance(event, P.Cancelled):
            if job.live_seq and "supersed" in event.reason:
                return  # a newer live request replaced it: expected
            self.state.progress_text = "cancelled"
            self._say(f"cancelled: {event.reason}")
        else:
            self.state.progress_text = "failed"
            if event.code == "disconnected":
                self._set_disconnected("disconnected: the muselink daemon stopped or crashed; reconnecting…")
            self._say(f"{job.capability} failed — {event.code}: {event.message}", error=True)

    # ---- live mode -----------------------------------------------------------------------------
    def set_live(self, on: bool, settings: Callable[[], tuple] | None = None) -> None:
        """Turn live mode on/off; ``settings() -> (capability, values, source)`` is read on every look."""
        try:
            self.state.live = bool(on)
            self.live_settings = settings
            self.live.reset()
            self._live_rng_seed = random.randrange(2**31)
            if not on:
                self.live_applied = None
                for job_id, job in list(self.jobs.items()):
                    if job.live_seq:
                        self.client.cancel(job_id)
            self._say("live: re-runs after you pause" if on else "live off")
        except Exception as exc:
            self._internal("live mode", exc)
        self.render()

    def _live_step(self, now: float) -> None:
        if self.live_settings is None:
            return
        try:
            capability, values, source = self.live_settings()
            capture, params = self._prepare(capability, values, source, random.Random(self._live_rng_seed), live=True)
        except ValueError as exc:
            if self.state.message != str(exc):
                self._say(str(exc), error=True)
            return
        self.live.observe(signature(capture, capability, params), now)
        if self.live.due(now):
            seq = self.live.sent()
            self._submit(capture, capability, params, live_seq=seq)

    def close(self) -> None:
        try:
            for job_id in list(self.jobs):
                self.client.cancel(job_id)
        except Exception:
            pass
        self.client.close()


def signature(capture, capability: str, params: dict) -> tuple:
    """A cheap fingerprint of what a live request would send (pixels, mask, region, settings)."""
    parts = [capability, repr(sorted(params.items())), capture.description]
    crc = 0
    for name in sorted(capture.payloads):
        payload = capture.payloads[name]
        parts.append(f"{name}:{payload.describe()}")
        for frame in payload.frames():
            crc = zlib.crc32(memoryview(frame).cast("B"), crc)
    return tuple(parts) + (crc,)

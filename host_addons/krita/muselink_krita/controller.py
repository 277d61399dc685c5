"""The docker's session glue, free of Qt and Krita: the bridge's host session plus what the panel shows.

The Qt panel calls :meth:`Controller.tick` from a ``QSocketNotifier`` on the client's FDs and from a
~100 ms ``QTimer``; ``tick`` drives the bridge :class:`Session` (connection, capability list, jobs,
live mode, applying results by output kind through the host adapter's hooks) and never blocks.
Every entry point catches its own exceptions and shows them in :class:`PanelState` — an exception
escaping into Qt would open a modal dialog inside Krita.
"""
from __future__ import annotations

import random
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .deps import DONE, CaptureRequest, Job, NothingCaptured, Outcome, PromptTarget, Session
from .form import form_for, params_from_values, usable

MADE = {"layer": "new layer '{}'", "document": "new document '{}'", "mask": "transparency mask '{}'",
        "selection": "selection mask '{}'", "text": "new text for '{}' (use it from the panel)"}


@dataclass
class PanelState:
    """Everything the panel shows; the panel renders it, the tests read it."""

    endpoint: str = ""
    connected: bool = False
    connection_text: str = "connecting…"
    capabilities: list = field(default_factory=list)  # the daemon's CapabilitySpecs
    busy: bool = False
    progress: float = 0.0
    progress_text: str = ""
    preview: object = None  # ImageData of the latest step preview, or None
    message: str = ""
    error: bool = False
    live: bool = False
    last_layer: str = ""
    offered_text: str = ""  # a text result, offered for the prompt field
    offered_for: str = ""  # the parameter it would replace
    expanding: str = ""  # the prompt parameter being expanded now ("" = none)
    expand_text: str = ""  # the expansion so far, as it streams in
    version: int = 0  # bumped on every change, so the panel repaints only when needed


class Controller:
    def __init__(self, pm, view: Callable[[PanelState], None] | None = None, endpoint: str | None = None,
                 name: str = "krita", clock: Callable[[], float] = time.monotonic, live_pause: float = 0.6):
        self.view = view
        self.session = Session(pm, endpoint=endpoint, name=name, timeout=0.25, clock=clock, live_pause=live_pause)
        self.session.listeners.append(self._on_session)
        self.state = PanelState(endpoint=self.session.endpoint)
        self.last_outcome: Outcome | None = None  # how the newest job ended (for the panel and tests)
        self.last_expansion: Outcome | None = None  # how the newest prompt expansion ended
        self._shown_version = -1
        self._in_tick = False

    # ---- what the panel and tests read ---------------------------------------------------------
    @property
    def client(self):
        return self.session.client

    @property
    def capabilities(self) -> dict:
        return self.session.capabilities

    @property
    def jobs(self) -> list[Job]:
        return self.session.jobs

    @property
    def live(self):
        return self.session.live

    @property
    def one_shot_running(self) -> bool:
        """An Apply job is in flight (live jobs and prompt expansions do not block Apply)."""
        return any(not j.live and not isinstance(j.context, PromptTarget) for j in self.session.jobs)

    @property
    def live_applied(self):
        """What the newest live result made (its layer), or None."""
        return next(iter(self.session.live_applied.values()), None)

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

    def _on_session(self, event: str, job: Job | None) -> None:
        """The session's news, as the panel shows it (every progress step is rendered at once)."""
        s, state = self.session, self.state
        if event in ("connected", "disconnected"):
            state.connected, state.connection_text = s.connected, s.connection_text
            state.capabilities = list(s.capabilities.values())
        elif event == "accepted" and job is not None:
            state.progress_text = f"queued on {job.lane}" + (f" (position {job.position})" if job.position else "")
        elif event == "progress" and job is not None and isinstance(job.context, PromptTarget):
            state.expand_text = job.message  # the expanded prompt so far
        elif event == "progress" and job is not None:
            state.progress = job.fraction
            state.progress_text = job.message or f"{job.fraction:.0%}"
            if job.preview is not None:
                state.preview = job.preview
        elif event == "live_problem":
            state.message, state.error = s.live_problem, True
        else:
            return
        self._changed()
        self.render()

    # ---- the tick ----------------------------------------------------------------------------
    def tick(self) -> None:
        """Drain replies, keep the connection alive, run live mode, apply results. Never blocks, never raises."""
        if self._in_tick:  # re-entered from a nested event loop (e.g. while a result is applied)
            return
        self._in_tick = True
        try:
            for outcome in self.session.tick():
                self._finish(outcome)  # may spin Krita's event loop (refreshProjection)
        except Exception as exc:
            self._internal("update", exc)
        finally:
            self._in_tick = False
            self._sync_busy()
        self.render()

    def _sync_busy(self) -> None:
        busy = bool(self.session.jobs)
        if busy != self.state.busy:
            self.state.busy = busy
            self._changed()

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
        return CaptureRequest(capability, source, {"live": live}, inputs=cap.inputs), params

    def apply(self, capability: str, values: dict, source: str = "layer") -> bool:
        """Apply/Generate: capture the region, submit, and later place the result (a new layer …)."""
        try:
            if not self.state.connected:
                raise ValueError("not connected to the muselink daemon (start it with 'muselink serve')")
            if self.one_shot_running:
                raise ValueError("a job is already running; cancel it or wait")
            request, params = self._prepare(capability, values, source)
            try:
                job = self.session.start(request, params)
            except NothingCaptured:
                raise ValueError("open a document first") from None
            self.state.busy = True
            self.state.progress, self.state.progress_text, self.state.preview = 0.0, "sending…", None
            self._say(f"running {capability} on {job.capture.description}…")
            return True
        except ValueError as exc:
            self._say(str(exc), error=True)
        except Exception as exc:
            self._internal("apply", exc)
        finally:
            self.render()
        return False

    def cancel(self) -> None:
        try:
            self.session.cancel()
        except Exception as exc:
            self._internal("cancel", exc)
        self.render()

    # ---- prompt expansion ----------------------------------------------------------------------
    def expandable(self, capability: str) -> tuple[str, ...]:
        """The prompt boxes of ``capability`` that get an "Expand" button."""
        return self.session.expandable(capability)

    @property
    def expansion(self) -> Job | None:
        """The prompt expansion in flight, if any."""
        return next((j for j in self.session.jobs if isinstance(j.context, PromptTarget) and not j.finished), None)

    def expand(self, capability: str, param: str, text: str, seed: Any = None) -> bool:
        """Expand: send the prompt box's text to the daemon's expander; the result is offered (Use)."""
        try:
            if self.expansion is not None:
                raise ValueError("a prompt is already being expanded; stop it or wait")
            self.session.expand(capability, param, text, seed)
            self.state.expanding, self.state.expand_text = param, ""
            self.state.offered_text = self.state.offered_for = ""
            self._say(f"expanding the {param}…")
            return True
        except ValueError as exc:
            self._say(str(exc), error=True)
        except Exception as exc:
            self._internal("expand", exc)
        finally:
            self.render()
        return False

    def stop_expanding(self) -> None:
        """Stop: cancel the prompt expansion (the prompt box keeps its text)."""
        try:
            job = self.expansion
            if job is not None:
                self.session.cancel(job)
        except Exception as exc:
            self._internal("stop", exc)
        self.render()

    def use_offered_text(self) -> tuple[str, str]:
        """(parameter, text) of the offered text result, cleared once taken."""
        taken = (self.state.offered_for, self.state.offered_text)
        self.state.offered_text = self.state.offered_for = ""
        self._changed()
        return taken

    def _finish(self, outcome: Outcome) -> None:
        job = outcome.job
        if isinstance(job.context, PromptTarget):
            return self._finish_expansion(outcome, job.context)
        self.last_outcome = outcome
        if job.state == DONE:
            if outcome.stale:
                return  # an older live result than the one shown
            if outcome.error or not outcome.applied:
                self._say(outcome.error or "the result could not be placed (its document is gone)", error=True)
                return
            for applied in outcome.applied:
                if applied.kind == "layer":
                    self.state.last_layer = applied.name
                elif applied.kind == "text":
                    self.state.offered_for, self.state.offered_text = applied.name, applied.handle
            self.state.progress, self.state.progress_text = 1.0, "done"
            if job.live:
                self._say(f"live: updated '{self.state.last_layer}'")
            else:
                self._say("done: " + ", ".join(MADE.get(a.kind, a.kind + " '{}'").format(a.name) for a in outcome.applied))
            return
        if job.state == "cancelled":
            if job.live and "supersed" in job.message:
                return  # a newer live request replaced it: expected
            self.state.progress_text = "cancelled"
            self._say(f"cancelled: {job.message}")
        else:
            self.state.progress_text = "failed"
            self._say(f"{job.capability} failed — {job.error_code}: {job.error}", error=True)

    def _finish_expansion(self, outcome: Outcome, target: PromptTarget) -> None:
        state, job = self.state, outcome.job
        state.expanding, state.expand_text = "", ""
        self.last_expansion = outcome
        if job.state == DONE and outcome.ok:
            state.offered_for, state.offered_text = target.param, outcome.applied[0].handle
            self._say(f"expanded the {target.param}: Use puts it in the box")
        elif job.state == "cancelled":
            self._say(f"expanding the {target.param} stopped; the box is unchanged")
        else:
            self._say(f"expanding the {target.param} failed — {outcome.error or job.error_code + ': ' + job.error}",
                      error=True)

    # ---- live mode -----------------------------------------------------------------------------
    def set_live(self, on: bool, settings: Callable[[], tuple] | None = None) -> None:
        """Turn live mode on/off; ``settings() -> (capability, values, source)`` is read on every look."""
        try:
            self.state.live = bool(on)
            seed = random.randrange(2**31)  # one seed per live session: same settings, same request

            def request() -> tuple[str, dict[str, Any], CaptureRequest]:
                capability, values, source = settings()
                capture_request, params = self._prepare(capability, values, source, random.Random(seed), live=True)
                return capability, params, capture_request

            self.session.set_live(on, request if on and settings is not None else None)
            self._say("live: re-runs after you pause" if on else "live off")
        except Exception as exc:
            self._internal("live mode", exc)
        self.render()

    def close(self) -> None:
        try:
            self.session.close()
        except Exception:
            traceback.print_exc(file=sys.stderr)

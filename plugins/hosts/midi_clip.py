"""``muselink midi clip``: one DAW clip in, one answer clip out, both as small JSON files.

This is how DAW scripts (muselink's Ardour actions) reach the daemon: the script writes a request,
runs ``muselink midi clip request.json -o answer.json`` and reads the answer. Pure apart from the
client passed in; no second protocol.

Request::

    {"action": "continue" | "infill" | "variation",
     "notes": {"ppq": 1920, "bpm": 96.0, "time_signature": [3, 4],
               "notes": [[start, duration, pitch, velocity, channel], ...]},
     "clip": [start, end],        # the selected clip, in the same ticks (tick 0 is a bar line)
     "params": {"bars": 2, "temperature": 0.9, "seed": 7, ...}}

Answer (written by :func:`answer_text`, one note per line, so a script can read it without a JSON
library)::

    {"action": "continue", "capability": "music.continue", "name": "music.continue seed 7", "seed": 7,
     "start": 5760, "end": 11520, "at": 5760, "ppq": 1920,
     "notes": [
      [5760, 480, 67, 90, 0],
      ...
     ]}

``start``/``end`` is the span the answer clip covers, in the request's ticks: after the clip for
``continue``; the clip itself for ``infill`` (the whole clip, its chosen bars regenerated) and
``variation`` (a new take). ``at`` is where the answer clip goes: right after the clip for
``continue``; for a new take, after the clip by whole bars, so it keeps the clip's place in the bar.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from muselink.bridge.payloads import NotesData

from muselink.host_addons.midi.notes import rescale

from .midi_files import notes_from_payloads, splice

CAPABILITIES = {"continue": "music.continue", "infill": "music.infill", "variation": "music.variation"}
SAMPLING = ("temperature", "top_p", "seed")
PARAMS = {"continue": ("bars",) + SAMPLING, "infill": ("from_bar", "to_bar") + SAMPLING,
          "variation": ("similarity",) + SAMPLING}


@dataclass(frozen=True)
class ClipRequest:
    action: str
    notes: NotesData
    clip: tuple[int, int]
    params: dict

    @property
    def bar_ticks(self) -> int:
        num, den = self.notes.time_signature
        return round(self.notes.ppq * 4 * num / den)

    def bars(self) -> tuple[int, int]:
        """First and last bar (1 = the bar starting at tick 0) the clip touches."""
        bar = self.bar_ticks
        return self.clip[0] // bar + 1, max(self.clip[0] // bar + 1, math.ceil(self.clip[1] / bar))


def _span(value, name: str) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                               for v in value)):
        raise ValueError(f"request field '{name}' must be [start, end] in ticks, got {value!r}")
    if not 0 <= value[0] < value[1]:
        raise ValueError(f"request field '{name}' must have 0 <= start < end, got {value!r}")
    return value[0], value[1]


def parse_request(data) -> ClipRequest:
    """A decoded request → ClipRequest, or ValueError naming the field that is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"the request must be a JSON object, got {type(data).__name__}")
    action = data.get("action")
    if action not in CAPABILITIES:
        raise ValueError(f"request field 'action' must be one of {', '.join(CAPABILITIES)}, got {action!r}")
    if not isinstance(data.get("notes"), dict):
        raise ValueError("request field 'notes' must be an object with ppq, bpm, time_signature and notes")
    notes = NotesData.from_desc(data["notes"], "request 'notes'")
    if not notes.notes:
        raise ValueError("the selected region has no notes inside it; muselink needs at least one note")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise ValueError(f"request field 'params' must be an object, got {params!r}")
    unknown = sorted(set(params) - set(PARAMS[action]))
    if unknown:
        raise ValueError(f"{action} takes the parameters {', '.join(PARAMS[action])}; unknown: {', '.join(unknown)}")
    return ClipRequest(action, notes, _span(data.get("clip"), "clip"), dict(params))


def middle_bars(first: int, last: int) -> tuple[int, int]:
    """The bars infill regenerates by default: all but the first and last of the clip (its last bar when
    the clip has two, the only bar when it has one)."""
    if last - first >= 2:
        return first + 1, last - 1
    return last, last


def infill_bars(req: ClipRequest) -> tuple[int, int]:
    """Bars to regenerate: the parameters, else the middle bars; always inside the clip (ValueError
    naming the parameter otherwise)."""
    first, last = req.bars()
    if "from_bar" in req.params or "to_bar" in req.params:
        lo = int(req.params.get("from_bar", first))
        hi = int(req.params.get("to_bar", lo))
    else:
        lo, hi = middle_bars(first, last)
    if not first <= lo <= hi <= last:
        raise ValueError(f"parameters 'from_bar' ({lo}) and 'to_bar' ({hi}) must lie inside the clip's bars "
                         f"{first}-{last} with from_bar <= to_bar")
    return lo, hi


def job(req: ClipRequest) -> tuple[str, dict]:
    """The capability and parameters the daemon runs for ``req``."""
    params = {k: v for k, v in req.params.items() if k in SAMPLING and v is not None}
    if req.action == "continue":
        params.update(bars=int(req.params.get("bars", 2)), after_tick=req.clip[1])
    elif req.action == "infill":
        params["from_bar"], params["to_bar"] = infill_bars(req)
    else:
        params["similarity"] = float(req.params.get("similarity", 0.5))
    return CAPABILITIES[req.action], params


def answer(req: ClipRequest, result_payloads: dict, meta: dict) -> dict:
    """The answer clip: its span and notes in the request's ticks."""
    cap = CAPABILITIES[req.action]
    notes = rescale(notes_from_payloads(result_payloads, f"{cap} result"), req.notes.ppq)
    lo, hi = req.clip
    if req.action == "continue":
        end = meta.get("end_tick")
        if not isinstance(end, int):
            end = max((n.start + n.duration for n in notes.notes), default=hi)
        start, end = hi, max(end, hi + 1)
        at = start
        new = [n for n in notes.notes if n.start >= start]
    else:
        if req.action == "infill":
            first, last = infill_bars(req)
            notes = splice(req.notes, notes, first, last)
        start, end = lo, hi
        bar = req.bar_ticks
        at = lo + math.ceil((hi - lo // bar * bar) / bar) * bar
        new = [n for n in notes.notes if lo <= n.start < hi]
    seed = meta.get("seed")
    return {"action": req.action, "capability": cap, "name": f"{cap} seed {seed}", "seed": seed,
            "start": start, "end": end, "at": at, "ppq": req.notes.ppq,
            "notes": [[n.start, n.duration, n.pitch, n.velocity, n.channel] for n in sorted(new, key=lambda n: (n.start, n.pitch))]}


def answer_text(ans: dict) -> str:
    """JSON with one note per line and no nesting elsewhere: what the Ardour scripts parse."""
    head = {k: v for k, v in ans.items() if k != "notes"}
    lines = ",\n".join(" " + json.dumps(n) for n in ans["notes"])
    return json.dumps(head)[:-1] + ',\n "notes": [\n' + lines + ("\n" if lines else "") + " ]}\n"


def run_clip(client, req: ClipRequest, timeout: float | None = None) -> dict:
    """Run ``req`` on the daemon and return the answer clip."""
    cap, params = job(req)
    result = client.run(cap, {"notes": req.notes}, params, timeout=timeout)
    return answer(req, result.payloads, result.meta)

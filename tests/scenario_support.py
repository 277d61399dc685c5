"""Pieces of the signature scenario test (test_signature_scenario.py): the daemon's memory over its process tree,
where the time goes, a phrase played into the MIDI bridge and its answer, and each host's record of the wire
checked against the others'."""
from __future__ import annotations

import json
import os
import queue
import time
from pathlib import Path

import mido
import numpy as np

from muselink.core.worker import rss_bytes


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (children, grandchildren …), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    return tree


def tree_rss(pid: int) -> dict:
    """Resident memory of ``pid``'s process tree: the sum and each process's share (MiB)."""
    each = {p: rss_bytes(p) for p in process_tree(pid)}
    return {"total_mib": round(sum(each.values()) / 2**20, 1), "processes": len(each),
            "each_mib": sorted((round(v / 2**20, 1) for v in each.values()), reverse=True)}


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid``'s process tree (processes alive now)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


class CpuMeter:
    """CPU seconds each named process tree used between two readings (where the machine's time goes)."""

    def __init__(self) -> None:
        self.pids: dict[str, int] = {}
        self.last: dict[str, float] = {}
        self.phases: dict[str, dict[str, float]] = {}

    def watch(self, name: str, pid: int) -> None:
        self.pids[name] = pid

    def phase(self, name: str, ended: dict[str, float] | None = None) -> None:
        """Close the phase ``name``: the CPU seconds since the previous reading, per tree, and for the whole
        machine (everything else on it included). ``ended``: the last CPU total of hosts that have exited."""
        now = {host: cpu_seconds(pid) for host, pid in self.pids.items()}
        now.update(ended or {})
        busy = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        now["machine"] = (sum(busy) - busy[3] - busy[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
        self.phases[name] = {host: round(now[host] - self.last.get(host, 0.0), 1) for host in now}
        self.last = now


class Timeline:
    """Seconds since the start for each named moment: where the test's time goes."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> float:
        self.marks[name] = round(time.monotonic() - self.t0, 1)
        print(f"[{self.marks[name]:6.1f} s] {name}", flush=True)
        return self.marks[name]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


class BridgeEvents:
    """The bridge's ``--json`` events, read as they come; submitted jobs remembered by id."""

    def __init__(self, lines: queue.Queue):
        self.lines = lines
        self.all: list[dict] = []
        self.submitted: dict[str, dict] = {}

    def next(self, kinds: tuple[str, ...], timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self.all.append(event)
            if event["event"] == "submitted":
                self.submitted[event["job"]] = event
            if event["event"] in kinds:
                return event
        raise AssertionError(f"no {'/'.join(kinds)} from the bridge within {timeout} s; last events: {self.all[-8:]}")


def exchange(player, phrase: list, events: BridgeEvents, heard: list, timeout: float = 30.0) -> dict:
    """Play ``phrase`` ((pitch, on s, off s) …) into the bridge, wait for its answer and for the answer to be
    played out; returns the answer event with ``turnaround_s`` (phrase sent to the daemon → answer back in the
    bridge) and ``heard_s`` (last note-off played → first answered note-on heard)."""
    t0 = time.perf_counter() + 0.05
    for t, kind, pitch in sorted([(t0 + a, 1, p) for p, a, _ in phrase] + [(t0 + b, 0, p) for p, _, b in phrase]):
        time.sleep(max(0.0, t - time.perf_counter()))
        player.send(mido.Message("note_on", note=pitch, velocity=96) if kind else mido.Message("note_off", note=pitch))
    last_off = time.perf_counter()
    answer = events.next(("answer", "error", "cancelled"), timeout)
    assert answer["event"] == "answer", answer
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if sum(1 for t, m in heard if t > last_off and m.type == "note_off") >= len(answer["notes"]):
            break
        time.sleep(0.05)
    first_on = next(t for t, m in heard if t > last_off and m.type == "note_on")
    sent = events.submitted[answer["job"]]
    return {**answer, "turnaround_s": answer["t"] - sent["t"], "heard_s": first_on - last_off, "sent_t": sent["t"]}


def bridge_wire(events: list[dict], clock_offset: float) -> dict:
    """The bridge's record of the wire (in the shape the add-on drivers write) from its ``--json`` events;
    ``clock_offset`` turns its perf_counter times into wall-clock times."""
    wire: dict = {"client": "midi-bridge", "submitted": [], "received": []}
    for e in events:
        t = round(e["t"] + clock_offset, 3)
        if e["event"] == "submitted":
            wire["submitted"].append([t, e["job"], "music.continue", True])
        elif e["event"] in ("answer", "cancelled", "error") and e.get("job"):
            wire["received"].append([t, {"answer": "result"}.get(e["event"], e["event"]), e["job"], False])
        elif e["event"] == "summary":
            wire.update(stray_replies=e["stray_replies"], protocol_errors=e["protocol_errors"])
    return wire


def check_wires(wires: dict[str, dict], cancel_at: float, cancelled_job: str, continuing: tuple[str, ...]) -> dict:
    """No reply crosses between hosts: each received only messages for jobs it sent itself, nothing stray, and
    the job ids of different hosts never meet. The one Blender cancel ended only Blender's job: every other
    host's job that was in flight at ``cancel_at`` ended with its result (or, in live mode, superseded by its
    own newer request), and the ``continuing`` hosts kept getting results after it. Returns what was counted."""
    owners: dict[str, str] = {}
    counts: dict = {}
    for host, wire in wires.items():
        assert wire.get("stray_replies") == 0 and wire.get("protocol_errors") == 0, (host, wire)
        mine = {row[1] for row in wire["submitted"]}
        assert mine, f"{host} sent no job"
        for job in mine:
            assert job not in owners, f"job id {job} used by {owners.get(job)} and {host}"
            owners[job] = host
        foreign = [row for row in wire["received"] if row[2] not in mine]
        assert not foreign, f"{host} received messages for jobs it did not send: {foreign[:5]}"
        counts[host] = {"sent": len(mine), "received": len(wire["received"]),
                        "previews": sum(1 for row in wire["received"] if row[3])}
    for host, wire in wires.items():
        sent = {row[1]: row[0] for row in wire["submitted"]}
        ended = {row[2]: (row[0], row[1], row[4] if len(row) > 4 else "") for row in wire["received"]
                 if row[1] in ("result", "cancelled", "error")}
        cancels = [job for job, (_, how, _) in ended.items() if how == "cancelled"]
        if host == "blender":
            assert cancels == [cancelled_job], f"Blender's cancels: {cancels}, expected only {cancelled_job}"
            continue
        spanning = [job for job, t in sent.items() if t < cancel_at and job in ended and ended[job][0] > cancel_at]
        for job in spanning:
            _, how, reason = ended[job]
            assert how == "result" or (how == "cancelled" and "superseded" in reason), (host, job, ended[job])
        for job in cancels:
            assert "superseded" in ended[job][2], f"{host}'s job {job} was cancelled: {ended[job]}"
        counts[host].update(in_flight_at_cancel=len(spanning),
                            results_after_cancel=sum(1 for t, how, _ in ended.values() if how == "result" and t > cancel_at))
        if host in continuing:
            assert counts[host]["results_after_cancel"] > 0, f"{host} got no result after Blender's cancel: {counts[host]}"
    return counts


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str))


def env_without(*names: str) -> dict:
    return {k: v for k, v in os.environ.items() if k not in names}

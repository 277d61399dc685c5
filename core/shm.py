"""Big frames between the broker and its local workers, through shared memory that stays warm.

Sent as ZeroMQ frames, a 4096² canvas (67 MB) costs each hop a fresh receive buffer, and on Linux a fresh
buffer that big means tens of thousands of page faults: measured here, ~90 ms per hop against ~10 ms to copy
into memory already mapped. So on the broker ↔ worker link a frame of ``MIN_FRAME`` bytes or more is copied
into a *slot* (a ``memfd`` the sender owns and keeps for the next job) and only its description travels;
the receiver maps the slot read-only, once, through ``/proc/<pid>/fd`` and reads it in place. Nothing is
left behind in ``/dev/shm`` when a process dies, and a slot is not bound by that folder's size.

Every message on the link ends with one *link frame*: empty, or the JSON list of the frames that travel
in slots. A slot stays the sender's until the receiver is done with it: the broker's slots (job inputs)
until the worker's terminal reply, a worker's slots (results, previews) until the broker says ``release``
once ZeroMQ has sent them on to the client. Link messages of their own start with ``MARK``.
Where memfds or ``/proc`` are missing, or a slot cannot be made, frames simply travel as frames.
"""
from __future__ import annotations

import itertools
import json
import mmap
import os
import time
from dataclasses import dataclass
from typing import Any

import zmq

MARK = b"muselink-link"  # first frame of the link's own messages (probe, shm-on, release)
MIN_FRAME = 1 << 20  # smaller frames are cheap as frames
POOL_LIMIT = 1 << 30  # bytes of slots one process keeps at most
IDLE_S = 60.0  # a free slot unused this long is given back to the system
_ROUND = 1 << 20


def supported() -> bool:
    return hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")


def buffer_of(frame: Any) -> memoryview:
    data = frame.buffer if isinstance(frame, zmq.Frame) else frame
    return memoryview(data).cast("B")


@dataclass(eq=False)
class _Slot:
    id: int
    fd: int
    size: int
    mm: mmap.mmap
    busy: bool = False
    used_at: float = 0.0


class SlotPool:
    """Slots this process writes its big frames into, reused while warm, at most ``limit`` bytes in all."""

    def __init__(self, limit: int = POOL_LIMIT):
        self.pid = os.getpid()
        self.limit = limit
        self._slots: dict[int, _Slot] = {}
        self._ids = itertools.count(1)
        self._probe = 0

    @property
    def bytes(self) -> int:
        return sum(s.size for s in list(self._slots.values()))

    def stats(self) -> dict[str, int]:
        """Slots for frames (not the probe), busy ones, bytes; safe to call from another thread."""
        slots = [s for s in list(self._slots.values()) if s.id != self._probe]  # list(): one step under the GIL
        return {"slots": len(slots), "busy": sum(s.busy for s in slots), "bytes": sum(s.size for s in slots)}

    def write(self, data: memoryview) -> list[int] | None:
        """Copy ``data`` into a free slot; its description ``[pid, fd, id, nbytes]``, or None (send it as a frame)."""
        slot = self._free_slot(data.nbytes)
        if slot is None:
            return None
        memoryview(slot.mm)[: data.nbytes] = data
        slot.busy, slot.used_at = True, time.monotonic()
        return [self.pid, slot.fd, slot.id, data.nbytes]

    def probe(self) -> list[int]:
        """A small slot for the other end to try mapping: proof that slots can cross."""
        slot = self._free_slot(1)
        if slot is None:
            raise OSError("no shared memory slot could be made")
        slot.busy, self._probe = True, slot.id
        return [self.pid, slot.fd, slot.id, 1]

    def _free_slot(self, nbytes: int) -> _Slot | None:
        free = [s for s in self._slots.values() if not s.busy and s.size >= nbytes]
        if free:
            return min(free, key=lambda s: s.size)
        step = _ROUND if nbytes >= MIN_FRAME else mmap.PAGESIZE
        size = -(-max(nbytes, 1) // step) * step
        for old in sorted((s for s in self._slots.values() if not s.busy), key=lambda s: s.used_at):
            if self.bytes + size <= self.limit:
                break
            self._close(old)
        if self.bytes + size > self.limit:
            return None
        fd = -1
        try:
            fd = os.memfd_create("muselink-frame", os.MFD_CLOEXEC)
            os.posix_fallocate(fd, 0, size)  # the memory is taken now: a full system says so here, not with SIGBUS later
            mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0))
        except (OSError, ValueError, AttributeError):
            if fd >= 0:
                os.close(fd)
            return None
        slot = _Slot(next(self._ids), fd, size, mm, used_at=time.monotonic())
        self._slots[slot.id] = slot
        return slot

    def release(self, ids: list[int]) -> None:
        for slot_id in ids:
            slot = self._slots.get(slot_id)
            if slot is not None:
                slot.busy = False

    def trim(self, idle_s: float = IDLE_S) -> None:
        """Give back free slots not used for ``idle_s`` seconds."""
        now = time.monotonic()
        for slot in [s for s in self._slots.values() if not s.busy and now - s.used_at > idle_s]:
            self._close(slot)

    def _close(self, slot: _Slot) -> None:
        self._slots.pop(slot.id, None)
        try:
            slot.mm.close()
        except BufferError:  # a view of it is still out there: the mapping goes when that view does
            pass
        os.close(slot.fd)

    def close(self) -> None:
        for slot in list(self._slots.values()):
            self._close(slot)


class PeerMaps:
    """The other end's slots, mapped read-only in this process once and kept while in use."""

    def __init__(self) -> None:
        self._maps: dict[tuple[int, int], tuple[mmap.mmap, float]] = {}

    def view(self, pid: int, fd: int, slot_id: int, nbytes: int) -> memoryview:
        key = (pid, slot_id)
        entry = self._maps.get(key)
        if entry is None:
            handle = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDONLY)
            try:
                size = os.fstat(handle).st_size
                mm = mmap.mmap(handle, size, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0), prot=mmap.PROT_READ)
            finally:
                os.close(handle)
            entry = (mm, 0.0)
        if nbytes > len(entry[0]):
            raise ValueError(f"slot {slot_id} of process {pid} holds {len(entry[0])} bytes, not {nbytes}")
        self._maps[key] = (entry[0], time.monotonic())
        return memoryview(entry[0])[:nbytes]

    def can_map(self, description: list[int]) -> bool:
        try:
            self.view(*description).release()
            return True
        except (OSError, ValueError, TypeError):
            return False

    def forget(self, pid: int | None = None, idle_s: float | None = None) -> None:
        """Unmap ``pid``'s slots (it exited), or the slots not used for ``idle_s`` seconds. A mapping whose
        memory ZeroMQ is still sending stays until it is sent."""
        now = time.monotonic()
        for key, (_, used_at) in list(self._maps.items()):
            if key[0] == pid or (idle_s is not None and now - used_at > idle_s):
                del self._maps[key]


def pack(frames: list[Any], pool: SlotPool | None) -> tuple[list[Any], list[int]]:
    """``frames`` with the link frame added: big frames copied into ``pool``'s slots when it is given.
    Also returns the ids of the slots used (busy until released)."""
    out, described = list(frames), []
    if pool is not None:
        for index in range(3, len(frames)):  # tag, command and header stay frames: payloads only
            view = buffer_of(frames[index])
            if view.nbytes >= MIN_FRAME:
                description = pool.write(view)
                if description is not None:
                    out[index] = b""
                    described.append([index, *description])
    out.append(json.dumps(described).encode() if described else b"")
    return out, [d[3] for d in described]


def unpack(frames: list[Any], maps: PeerMaps, track: bool = False) -> tuple[list[Any], list[tuple[int, Any]]]:
    """``frames`` without the link frame, each frame that travelled in a slot a read-only view of it (a tracked
    ``zmq.Frame`` with ``track``, so the slot can be released once ZeroMQ has sent it on). Also returns
    ``(slot id, tracker)`` for each. Raises ValueError for a link frame that does not describe slots of this link."""
    if not frames:
        raise ValueError("empty message on the worker link")
    link = bytes(buffer_of(frames[-1]))
    out: list[Any] = list(frames[:-1])
    held: list[tuple[int, Any]] = []
    if not link:
        return out, held
    try:
        described = json.loads(link)
        for index, pid, fd, slot_id, nbytes in described:
            view = maps.view(int(pid), int(fd), int(slot_id), int(nbytes))
            frame = zmq.Frame(view, track=True) if track else None
            out[index] = view if frame is None else frame
            held.append((int(slot_id), None if frame is None else frame.tracker))
    except (OSError, TypeError, IndexError, json.JSONDecodeError) as exc:
        raise ValueError(f"bad link frame: {exc}") from exc
    return out, held


def control(command: bytes, body: Any = None) -> list[bytes]:
    """A link message of its own (``probe``, ``shm-on``, ``release``), link frame included."""
    return [MARK, command, json.dumps(body).encode(), b""]


def is_control(frames: list[Any]) -> bool:
    return len(frames) == 4 and bytes(buffer_of(frames[0])) == MARK


def _body(frames: list[Any]) -> tuple[bytes, Any]:
    try:
        return bytes(buffer_of(frames[1])), json.loads(bytes(buffer_of(frames[2])))
    except (ValueError, IndexError):
        return b"", None


class _LinkEnd:
    """What both ends have: the other end's slots mapped here, and a pool of their own with its probe slot."""

    def __init__(self) -> None:
        self.maps = PeerMaps()
        self.pool: SlotPool | None = None
        self.probe: list[int] | None = None

    def _own_pool(self) -> None:
        if supported():
            try:
                self.pool = SlotPool()
                self.probe = self.pool.probe()
            except OSError:
                self.pool = None

    def trim(self) -> None:
        """Give back the slots, and drop the other end's mappings, not used for ``IDLE_S`` seconds."""
        if self.pool is not None:
            self.pool.trim()
        self.maps.forget(idle_s=IDLE_S)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


class WorkerLink(_LinkEnd):
    """A worker's end: the broker's slots mapped here, and a pool of its own for results once the broker
    has shown it can map them (``shm-on``)."""

    def __init__(self, broker_probe: list[int] | None):
        super().__init__()
        self.sending = False
        if broker_probe and self.maps.can_map(broker_probe):
            self._own_pool()

    def pack(self, frames: list[Any]) -> list[Any]:
        return pack(frames, self.pool if self.sending else None)[0]

    def unpack(self, frames: list[Any]) -> list[Any]:
        return unpack(frames, self.maps)[0]

    def control(self, frames: list[Any]) -> None:
        command, body = _body(frames)
        if command == b"shm-on":
            self.sending = self.pool is not None
        elif command == b"release" and self.pool is not None and isinstance(body, list):
            self.pool.release([i for i in body if isinstance(i, int)])

    def stats(self) -> dict[str, Any]:
        return {"sending": self.sending, **(self.pool.stats() if self.pool is not None else {})}


class BrokerLink(_LinkEnd):
    """The broker's end: one pool for every worker's job inputs, and the workers' slots mapped here. Per worker
    (by name): whether big frames go to it in slots, the input slots its job holds, and its result slots that
    ZeroMQ is still sending on to a client."""

    def __init__(self) -> None:
        super().__init__()
        self._own_pool()
        self._on: set[str] = set()
        self._inputs: dict[str, list[int]] = {}
        self._sending: list[tuple[str, int, list[tuple[int, Any]]]] = []

    def on(self, name: str) -> bool:
        return name in self._on

    def pack(self, name: str, frames: list[Any], job: bool) -> list[Any]:
        """``frames`` for worker ``name``; a job's input slots stay busy until :meth:`ended`."""
        packed, ids = pack(frames, self.pool if name in self._on else None)
        if job:
            self.ended(name)
            self._inputs[name] = ids
        return packed

    def unpack(self, name: str, pid: int | None, frames: list[Any]) -> list[Any]:
        out, held = unpack(frames, self.maps, track=True)
        if held and pid is not None:
            self._sending.append((name, pid, held))
        return out

    def control(self, name: str, frames: list[Any]) -> list[bytes] | None:
        """A worker's probe: map it; if that works, big frames go both ways (the answer to send it back)."""
        command, body = _body(frames)
        if command == b"probe" and self.pool is not None and isinstance(body, list) and self.maps.can_map(body):
            self._on.add(name)
            return control(b"shm-on")
        return None

    def ended(self, name: str) -> None:
        """Worker ``name``'s job ended (or could not be sent): its input slots are free again."""
        if self.pool is not None:
            self.pool.release(self._inputs.pop(name, []))

    def gone(self, name: str, pid: int | None) -> None:
        """Worker ``name`` (process ``pid``) exited."""
        self.ended(name)
        self._on.discard(name)
        self._sending = [entry for entry in self._sending if entry[0] != name]
        if pid is not None:
            self.maps.forget(pid)

    def releases(self) -> list[tuple[str, int, list[bytes]]]:
        """``(worker, pid, release message)`` for its slots that ZeroMQ has finished sending on."""
        found, keep = [], []
        for name, pid, held in self._sending:
            done = {slot_id for slot_id, tracker in held if tracker.done}
            if done:
                found.append((name, pid, control(b"release", sorted(done))))
            rest = [(slot_id, tracker) for slot_id, tracker in held if slot_id not in done]
            if rest:
                keep.append((name, pid, rest))
        self._sending = keep
        return found

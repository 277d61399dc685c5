"""Big frames between the broker and its workers travel in warm shared-memory slots (core/shm.py)."""
import gc
import os
import signal
import time

import numpy as np
import pytest
import zmq

from muselink.bridge import protocol as P
from muselink.bridge.payloads import ImageData
from muselink.core import shm

pytestmark = pytest.mark.skipif(not shm.supported(), reason="shared-memory slots need Linux memfds and /proc")
BIG = 2 << 20


def message(*payloads):
    return [b"tag", b"result", b"{}", *payloads]


def test_a_big_frame_travels_in_a_slot_and_arrives_byte_for_byte_read_only():
    pool, maps = shm.SlotPool(), shm.PeerMaps()
    small, big = b"s" * 100, np.random.default_rng(0).integers(0, 255, BIG, np.uint8)
    packed, ids = shm.pack(message(small, big), pool)
    assert packed[3] is small and packed[4] == b"" and len(ids) == 1 and len(packed[-1]) < 200
    frames, held = shm.unpack(packed, maps)
    assert len(frames) == 5 and bytes(frames[3]) == small and [slot for slot, _ in held] == ids
    assert np.array_equal(np.frombuffer(frames[4], np.uint8), big) and frames[4].readonly
    pool.close()


def test_frames_without_a_pool_or_under_a_megabyte_stay_frames():
    pool = shm.SlotPool()
    big = bytes(BIG)
    assert shm.pack(message(big), None) == (message(big) + [b""], [])
    assert shm.pack(message(bytes(shm.MIN_FRAME - 1)), pool)[1] == [] and pool.stats()["slots"] == 0
    pool.close()


def test_a_slot_is_reused_once_released_and_never_while_busy():
    pool = shm.SlotPool()
    _, first = shm.pack(message(bytes(BIG)), pool)
    _, second = shm.pack(message(bytes(BIG)), pool)
    assert first != second and pool.stats() == {"slots": 2, "busy": 2, "bytes": 2 * BIG}
    pool.release(first)
    _, third = shm.pack(message(bytes(BIG // 2)), pool)
    assert third == first and pool.stats()["slots"] == 2
    pool.close()


def test_over_its_limit_the_pool_gives_back_free_slots_then_lets_frames_travel_as_frames():
    pool = shm.SlotPool(limit=5 << 20)
    _, kept = shm.pack(message(bytes(BIG)), pool)
    _, freed = shm.pack(message(bytes(BIG)), pool)
    pool.release(freed)
    _, bigger = shm.pack(message(bytes(3 << 20)), pool)  # needs the freed slot's room
    assert bigger and pool.stats() == {"slots": 2, "busy": 2, "bytes": 5 << 20}
    packed, none = shm.pack(message(bytes(BIG)), pool)
    assert none == [] and len(packed[3]) == BIG  # no room: it goes as a frame
    pool.release(kept + bigger)
    pool.trim(idle_s=0)
    assert pool.stats()["slots"] == 0
    pool.close()


def test_a_link_frame_naming_a_slot_that_is_not_there_is_a_clear_error():
    with pytest.raises(ValueError, match="bad link frame"):
        shm.unpack([*message(b""), b'[[3, %d, 999, 1, 10]]' % os.getpid()], shm.PeerMaps())
    with pytest.raises(ValueError, match="bad link frame"):
        shm.unpack([*message(b""), b"not json"], shm.PeerMaps())


def test_the_broker_releases_a_workers_slot_once_zeromq_has_sent_it_on():
    worker_pool, broker = shm.SlotPool(), shm.BrokerLink()
    packed, ids = shm.pack(message(bytes(BIG)), worker_pool)
    frames = broker.unpack("heavy-0", os.getpid(), packed)
    assert isinstance(frames[3], zmq.Frame) and broker.releases() == []  # still held by us
    del frames
    gc.collect()
    deadline = time.monotonic() + 5
    while not (found := broker.releases()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert found == [("heavy-0", os.getpid(), shm.control(b"release", ids))]
    link = shm.WorkerLink(broker.probe)
    link.pool, link.sending = worker_pool, True
    link.control(found[0][2])
    assert worker_pool.stats()["busy"] == 0
    worker_pool.close()
    broker.close()


def test_a_worker_sends_in_slots_only_after_the_broker_mapped_its_probe():
    broker = shm.BrokerLink()
    link = shm.WorkerLink(broker.probe)
    assert link.probe is not None and not link.sending and link.pack(message(bytes(BIG)))[3] != b""
    answer = broker.control("image-0", shm.control(b"probe", link.probe))
    assert answer == shm.control(b"shm-on") and broker.on("image-0")
    link.control(answer)
    assert link.sending and link.pack(message(bytes(BIG)))[3] == b""
    assert shm.WorkerLink([os.getpid(), 9999, 1, 1]).probe is None  # a broker slot it cannot map: frames only
    broker.close()


def canvas(size, seed):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 4), np.uint8)


def worker(client, name):
    return next(w for w in client.status().workers if w["name"] == name)


def test_big_canvases_cross_the_workers_in_reused_slots_unchanged(client):
    """Six 1024² echoes come back byte for byte; the worker keeps at most two warm slots (slots are released)."""
    for seed in range(6):
        pixels = canvas(1024, seed)
        out = client.run("debug.echo", {"image": ImageData.from_numpy(pixels)}, timeout=60).payloads["image"].to_numpy()
        assert np.array_equal(out, pixels)
    memory = worker(client, "interactive-0")["shared_memory"]
    assert memory["sending"] and 1 <= memory["slots"] <= 2, memory  # one, or two if a release came late


def test_a_worker_killed_mid_job_with_a_big_canvas_restarts_and_the_next_canvas_arrives_intact(client):
    pixels = canvas(1024, 7)
    handle = client.submit("debug.work", {"image": ImageData.from_numpy(pixels)}, {"steps": 50, "delay": 0.1})
    while handle.progress() is None:
        client.poll(0.05)
    os.kill(worker(client, "heavy-0")["pid"], signal.SIGKILL)
    reply = client.wait(handle, 30)
    assert isinstance(reply, P.Error) and reply.code == "worker_crashed", reply
    deadline = time.monotonic() + 30
    while worker(client, "heavy-0")["state"] != "idle" and time.monotonic() < deadline:
        time.sleep(0.1)
    again = canvas(1024, 8)
    out = client.run("debug.work", {"image": ImageData.from_numpy(again)}, {"steps": 1}, timeout=60)
    assert np.array_equal(out.payloads["image"].to_numpy(), again)
    assert worker(client, "heavy-0")["shared_memory"]["sending"]

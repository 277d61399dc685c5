"""Latency lanes pause the lanes that yield (core/yielding.py): the rules, with a pool that records signals."""
from muselink.core.config import default_lanes
from muselink.core.yielding import Yielding


class Slot:
    def __init__(self, name: str, pid: int):
        self.name, self.lane, self.pid, self.kill_reason = name, name.split("-")[0], pid, None


class Pool:
    can_pause = True

    def __init__(self):
        self.slots = [Slot(name, pid) for pid, name in enumerate(("interactive-0", "image-0", "heavy-0", "text-0"), 1)]
        self.calls: list[tuple[str, bool]] = []

    def pause(self, slot, paused):
        self.calls.append((slot.name, paused))
        return True

    def taken(self):
        calls, self.calls = self.calls, []
        return calls


def setup():
    clock = [0.0]
    pool = Pool()
    return pool, Yielding(pool, default_lanes(), clock=lambda: clock[0]), clock


def test_a_latency_job_pauses_every_yielding_worker_until_it_ends():
    pool, y, _ = setup()
    midi = pool.slots[0]
    y.started(midi)
    assert pool.taken() == [("image-0", True), ("heavy-0", True), ("text-0", True)]
    y.ended(midi)
    assert sorted(pool.taken()) == [("heavy-0", False), ("image-0", False), ("text-0", False)]


def test_yielding_workers_stay_paused_while_any_latency_job_runs_and_new_work_joins_the_pause():
    pool, y, _ = setup()
    first, second = pool.slots[0], Slot("interactive-1", 9)
    y.started(first)
    y.started(second)
    pool.taken()
    y.ended(first)
    assert pool.taken() == []
    heavy = pool.slots[2]
    y.release(heavy)  # a cancel for its job: continued at once
    assert pool.taken() == [("heavy-0", False)]
    y.started(heavy)  # its next job, while the MIDI job still runs
    assert pool.taken() == [("heavy-0", True)]
    y.ended(second)
    assert len(pool.taken()) == 3


def test_a_pause_never_lasts_longer_than_the_limit():
    pool, y, clock = setup()
    midi = pool.slots[0]
    y.started(midi)
    assert len(pool.taken()) == 3
    clock[0] = 0.5
    y.tick()
    assert pool.taken() == []
    clock[0] = 1.0
    y.tick()
    assert len(pool.taken()) == 3  # continued after max_pause_s although the job still runs
    y.ended(midi)
    clock[0] = 1.6
    y.started(midi)  # 0.2 s of budget earned back since (1 s for every 3 s not paused): a short pause
    assert len(pool.taken()) == 3
    clock[0] = 1.75
    y.tick()
    assert pool.taken() == []
    clock[0] = 1.85
    y.tick()
    assert len(pool.taken()) == 3


def test_back_to_back_latency_jobs_pause_the_other_lanes_at_most_a_quarter_of_the_time():
    pool, y, clock = setup()
    midi, paused, step = pool.slots[0], 0.0, 0.01
    for i in range(2000):  # 20 s of 40 ms MIDI jobs with 10 ms gaps between them
        t = i * step
        clock[0] = t
        if i % 5 == 0:
            y.started(midi)
        elif i % 5 == 4:
            y.ended(midi)
        y.tick()
        paused += step if y.paused else 0.0
    assert 0.2 * 20 < paused <= 0.25 * 20 + 1.0, paused


def test_a_worker_that_exits_while_paused_is_forgotten_and_dead_or_doomed_workers_are_not_paused():
    pool, y, _ = setup()
    image, heavy = pool.slots[1], pool.slots[2]
    heavy.kill_reason = "cancel"
    y.started(pool.slots[0])
    assert pool.taken() == [("image-0", True), ("text-0", True)]
    image.pid = None
    y.ended(image, exited=True)
    y.ended(pool.slots[0])
    assert pool.taken() == [("text-0", False)]


def test_pools_that_cannot_pause_leave_it_off():
    pool = Pool()
    pool.can_pause = False
    y = Yielding(pool, default_lanes())
    y.started(pool.slots[0])
    assert pool.taken() == [] and not y.enabled

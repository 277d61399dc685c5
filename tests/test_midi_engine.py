"""DAW bridge, call and response with a fake daemon client, a fake clock and mido in-memory ports."""
import queue
import threading
import time

import mido
import mido.ports
import pytest

from muselink.bridge import protocol as P
from muselink.bridge.client import DaemonUnavailable, JobHandle
from muselink.bridge.payloads import Note, NotesData
from muselink.host_addons.midi.controller import BridgeSettings, CallResponse
from muselink.host_addons.midi.host import ports
from muselink.plugins.hosts import midi_commands
from muselink.host_addons.midi.timing import Grid


class FakeClient:
    """Stands in for the bridge client in unit tests: records submissions, answers on demand."""

    def __init__(self):
        self.submitted, self.cancelled = [], []
        self.down = False

    def submit(self, capability, payloads, params, session=None):
        if self.down:
            raise DaemonUnavailable("muselink daemon not reachable at tcp://127.0.0.1:1")
        handle = JobHandle(id=f"job-{len(self.submitted) + 1}", capability=capability)
        self.submitted.append((handle, payloads, params, session))
        return handle

    def answer(self, notes, index=-1):
        handle = self.submitted[index][0]
        handle.terminal = P.Result(job=handle.id, payloads={"notes": notes}, meta={})

    def fail(self, code="disconnected", index=-1):
        handle = self.submitted[index][0]
        handle.terminal = P.Error(code=code, message="boom", job=handle.id)

    def drain(self):
        return []

    def cancel(self, job_id):
        self.cancelled.append(job_id)


class Recorder(mido.ports.BaseOutput):
    """A mido in-memory output port that keeps what was sent with the fake time of sending."""

    def __init__(self, clock):
        super().__init__("recorder")
        self.clock = clock
        self.sent = []

    def _send(self, msg):
        self.sent.append((self.clock.t, msg))


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


@pytest.fixture
def rig():
    clock, client = Clock(), FakeClient()
    out = Recorder(clock)
    events = []
    engine = CallResponse(client, BridgeSettings(bpm=120, pause_beats=1, grid=Grid.parse("1/16"), trigger_cc=20,
                                                 params={"bars": 1}),
                          out.send, clock=clock, report=lambda e, **f: events.append((e, f)))
    return engine, client, out, clock, events


def play(engine, clock, notes):
    """notes: [(pitch, on_s, off_s)] relative to the current fake time."""
    t0 = clock.t
    timeline = sorted([(t0 + a, "on", p) for p, a, _ in notes] + [(t0 + b, "off", p) for p, _, b in notes],
                      key=lambda e: (e[0], e[1] == "on"))
    for t, kind, pitch in timeline:
        clock.t = t
        engine.tick()
        msg = mido.Message("note_on", note=pitch, velocity=90) if kind == "on" else mido.Message("note_off", note=pitch)
        engine.feed(msg, t)


def run_until(engine, clock, t_end, step=0.001):
    while clock.t < t_end:
        clock.t = round(clock.t + step, 6)
        engine.tick()


PHRASE = [(60, 0.0, 0.24), (62, 0.25, 0.49), (64, 0.5, 0.74), (65, 0.75, 0.99)]
ANSWER = NotesData((Note(1920, 240, 67), Note(2160, 240, 65), Note(2400, 480, 64)), ppq=480, bpm=120)


def test_pause_sends_the_quantised_phrase_to_music_continue(rig):
    """One beat of silence after the last release submits the phrase, quantised, with the sampling params."""
    engine, client, out, clock, _ = rig
    play(engine, clock, PHRASE)
    run_until(engine, clock, clock.t + 0.49)
    assert client.submitted == []
    run_until(engine, clock, clock.t + 0.02)
    handle, payloads, params, session = client.submitted[0]
    assert handle.capability == "music.continue" and params == {"bars": 1} and session == "midi-bridge"
    notes = payloads["notes"]
    assert [(n.start, n.duration, n.pitch) for n in notes.notes] == [(0, 240, 60), (240, 240, 62), (480, 240, 64), (720, 240, 65)]
    assert notes.bpm == 120 and notes.ppq == 480


def test_answer_plays_in_time_on_the_phrase_beat_grid_with_all_note_offs(rig):
    """The answer's notes go out at their tick times (whole beats later if late), each with its note-off."""
    engine, client, out, clock, events = rig
    start = clock.t
    play(engine, clock, PHRASE)
    run_until(engine, clock, clock.t + 0.6)
    clock.t += 0.3  # generation takes a while; the answer's tick 1920 (t0 + 2.0 s) is still ahead
    client.answer(ANSWER)
    run_until(engine, clock, start + 5.0)
    ons = [(t - start, m.note) for t, m in out.sent if m.type == "note_on"]
    offs = [(t - start, m.note) for t, m in out.sent if m.type == "note_off"]
    assert [p for _, p in ons] == [67, 65, 64]
    assert [round(t, 3) for t, _ in ons] == [2.0, 2.25, 2.5]
    assert sorted(p for _, p in offs) == [64, 65, 67]
    assert not engine.player.sounding
    assert engine.latencies == [pytest.approx(2.0 - 0.99, abs=0.002)]
    assert any(e == "playing" for e, _ in events)


def test_late_answer_is_shifted_by_whole_beats(rig):
    """An answer that arrives after its first note was due starts on the next free beat, in phase."""
    engine, client, out, clock, _ = rig
    start = clock.t
    play(engine, clock, PHRASE)
    run_until(engine, clock, start + 2.1)  # the answer is late: its first note was due at +2.0 s
    client.answer(ANSWER)
    run_until(engine, clock, start + 6.0)
    ons = [round(t - start, 3) for t, m in out.sent if m.type == "note_on"]
    assert ons == [2.5, 2.75, 3.0]


def test_new_phrase_cancels_the_answer_playing_and_releases_its_notes(rig):
    """A note-on while the answer plays stops it: note-offs for what sounds, then All Notes Off."""
    engine, client, out, clock, _ = rig
    start = clock.t
    play(engine, clock, PHRASE)
    run_until(engine, clock, start + 1.6)
    client.answer(ANSWER)
    run_until(engine, clock, start + 2.1)  # first answer note sounds
    assert engine.player.sounding
    engine.feed(mido.Message("note_on", note=72, velocity=80), clock.t)
    tail = [m for _, m in out.sent][-2:]
    assert tail[0].type == "note_off" and tail[0].note == 67
    assert tail[1].type == "control_change" and tail[1].control == 123
    run_until(engine, clock, start + 5.0)
    assert [m.note for _, m in out.sent if m.type == "note_on"] == [67]


def test_new_phrase_cancels_the_job_still_generating(rig):
    """A note-on while the daemon is still answering cancels that job (latest wins)."""
    engine, client, out, clock, events = rig
    play(engine, clock, PHRASE)
    run_until(engine, clock, clock.t + 0.6)
    job = client.submitted[0][0]
    engine.feed(mido.Message("note_on", note=72, velocity=80), clock.t)
    assert client.cancelled == [job.id]
    client.answer(ANSWER, index=0)  # the stale answer arrives anyway and is ignored
    run_until(engine, clock, clock.t + 3.0)
    assert not [m for _, m in out.sent if m.type == "note_on"]


def test_trigger_cc_sends_the_phrase_at_once(rig):
    """The trigger CC submits without waiting for the pause, and stops an answer if one plays."""
    engine, client, out, clock, _ = rig
    play(engine, clock, PHRASE[:2])
    engine.feed(mido.Message("control_change", control=20, value=127), clock.t)
    assert len(client.submitted) == 1
    engine.feed(mido.Message("control_change", control=20, value=127), clock.t)
    assert client.cancelled == [client.submitted[0][0].id]


def test_shutdown_sends_all_notes_off_and_cancels_the_job(rig):
    """On exit every sounding note is released and CC 123 goes out on each channel used."""
    engine, client, out, clock, _ = rig
    start = clock.t
    play(engine, clock, PHRASE)
    run_until(engine, clock, start + 1.6)
    client.answer(ANSWER)
    run_until(engine, clock, start + 2.1)
    engine.shutdown()
    sent = [m for _, m in out.sent]
    assert sent[-2].type == "note_off" and sent[-1].type == "control_change" and sent[-1].control == 123
    assert not engine.player.active


def test_midi_clock_sets_the_tempo_of_the_phrase(rig):
    """With MIDI clock at 100 bpm the phrase is sent at 100 bpm, not --bpm."""
    engine, client, out, clock, _ = rig
    t = clock.t
    for i in range(60):
        engine.feed(mido.Message("clock"), t + i * 0.6 / 24)
    clock.t = t + 59 * 0.6 / 24
    engine.feed(mido.Message("note_on", note=60, velocity=90), clock.t)
    engine.feed(mido.Message("note_off", note=60), clock.t + 0.3)
    engine.feed(mido.Message("control_change", control=20, value=127), clock.t + 0.3)
    assert client.submitted[0][1]["notes"].bpm == pytest.approx(100.0, rel=1e-3)


def test_daemon_down_keeps_the_phrase_and_retries_until_it_is_back(rig):
    """Submit failures are reported once, retried every second, and the phrase goes out when the daemon is up."""
    engine, client, out, clock, events = rig
    client.down = True
    play(engine, clock, PHRASE)
    run_until(engine, clock, clock.t + 2.5, step=0.01)
    assert [e for e, _ in events].count("daemon_down") == 1
    assert "muselink serve" in dict(events)["daemon_down"]["message"]
    client.down = False
    run_until(engine, clock, clock.t + 1.1, step=0.01)
    assert len(client.submitted) == 1
    assert [n.pitch for n in client.submitted[0][1]["notes"].notes] == [60, 62, 64, 65]


def test_daemon_lost_mid_job_resends_the_phrase(rig):
    """A job that ends 'disconnected' is re-submitted after the retry interval."""
    engine, client, out, clock, events = rig
    play(engine, clock, PHRASE)
    run_until(engine, clock, clock.t + 0.6)
    client.fail("disconnected")
    run_until(engine, clock, clock.t + 1.2, step=0.01)
    assert len(client.submitted) == 2
    assert any(e == "daemon_down" for e, _ in events)


def test_model_error_is_reported_and_nothing_plays(rig):
    """An error reply (not a disconnect) is reported with its code and no note is sent."""
    engine, client, out, clock, events = rig
    play(engine, clock, PHRASE)
    run_until(engine, clock, clock.t + 0.6)
    client.fail("bad_input")
    run_until(engine, clock, clock.t + 1.0)
    assert ("error" in [e for e, _ in events]) and not out.sent


def test_realtime_loop_plays_the_answer_through_in_memory_ports():
    """ports.run: messages queued as from a port's callback reach the engine; the answer goes out on time."""
    client = FakeClient()
    got = []

    class Out(mido.ports.BaseOutput):
        def _send(self, msg):
            got.append((time.perf_counter(), msg))

    out = Out("memory out")
    engine = CallResponse(client, BridgeSettings(bpm=240, pause_beats=1, params={"bars": 1}), out.send,
                          report=lambda e, **f: None)
    inbox, stop = queue.Queue(), threading.Event()
    loop = threading.Thread(target=ports.run, args=(engine, inbox, out, stop), daemon=True)
    loop.start()
    t0 = time.perf_counter()
    for pitch, a, b in [(60, 0.0, 0.1), (64, 0.125, 0.2)]:
        inbox.put((t0 + a, mido.Message("note_on", note=pitch, velocity=90)))
        inbox.put((t0 + b, mido.Message("note_off", note=pitch)))
    deadline = time.monotonic() + 5
    while not client.submitted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.submitted, "the loop never submitted the phrase"
    client.answer(NotesData((Note(960, 120, 67), Note(1080, 120, 69)), ppq=480, bpm=240))
    while len([m for _, m in got if m.type == "note_off"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    loop.join(5)
    ons = [(t, m.note) for t, m in got if m.type == "note_on"]
    assert [p for _, p in ons] == [67, 69]
    assert ons[1][0] - ons[0][0] == pytest.approx(0.0625, abs=0.01)  # one sixteenth at 240 bpm
    beats = (ons[0][0] - t0) / 0.25  # the answer starts on a beat of the phrase's grid
    assert beats == pytest.approx(round(beats), abs=0.04)
    assert got[-1][1].type == "control_change" and got[-1][1].control == 123  # all notes off on exit


def test_only_the_ports_module_touches_midi_io():
    """Exactly one module of the add-on opens MIDI ports or imports rtmidi; the CLI plugin imports no mido."""
    from pathlib import Path

    folder = Path(ports.__file__).parent.parent  # the whole add-on, host/ included
    io_words = (".open_input(", ".open_output(", "import rtmidi", "mido.Backend(", ".get_input_names(")
    touching = sorted(p.name for p in folder.rglob("*.py") if any(w in p.read_text() for w in io_words))
    assert touching == ["ports.py"]
    assert "import mido" not in Path(midi_commands.__file__).read_text()

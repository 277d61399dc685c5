"""DAW bridge end to end: JACK (dummy driver), the real daemon and model, the bridge, and Ardour
recording the answer on a MIDI track; the recording is read back and rendered with fluidsynth."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import mido
import numpy as np
import pytest

from jack_support import (ARDOUR_SCRIPT, PERIOD, SOUNDFONT, ardour_env, assert_recorded_answers, jack_server, lines,
                          recorded_onsets, stop, wait_for)

BPM = 120.0
GRID_S = 60.0 / BPM / 4  # 1/16 at 120 bpm
PHRASES = [  # (pitch, on s, off s) — four-note phrases, one beat apart each
    [(60, 0.0, 0.22), (64, 0.25, 0.47), (67, 0.5, 0.72), (72, 0.75, 0.97)],
    [(62, 0.0, 0.22), (65, 0.25, 0.47), (69, 0.5, 0.72), (67, 0.75, 0.97)],
    [(64, 0.0, 0.47), (62, 0.5, 0.72), (60, 0.75, 0.97)],
]

@pytest.fixture
def jack(tmp_path, monkeypatch):
    """A private JACK server (dummy driver) that this test's processes and Ardour use."""
    yield from jack_server(tmp_path, monkeypatch)


def percentile(values, q):
    return float(np.percentile(np.array(values), q))


def assert_heard_in_order(heard: list, notes: list, timeout: float = 10.0) -> None:
    """Wait until every answered note was released, then check the note-ons came in the answer's order."""
    deadline = time.monotonic() + timeout
    while sum(m.type == "note_off" for m in heard) < len(notes) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m.note for m in heard if m.type == "note_on"] == [n[2] for n in sorted(notes, key=lambda n: (n[0], n[2]))]

@pytest.mark.host
@pytest.mark.timeout(120)
def test_ardour_records_the_models_answer_in_order_and_on_the_grid(jack, daemon, client, tmp_path):
    """Phrases played into 'muselink in' are answered by music.continue on 'muselink out'; Ardour records
    exactly those notes, in order, with onsets within one 1/16 step; fluidsynth renders them audibly."""
    procs = jack
    from muselink.bridge.payloads import Note, NotesData

    warm = time.perf_counter()  # load the model now, not while Ardour records
    client.run("music.continue", {"notes": NotesData((Note(0, 480, 60), Note(480, 480, 64)))}, {"bars": 1, "seed": 1},
               timeout=60)
    warm = time.perf_counter() - warm
    env = {**os.environ}
    bridge = procs.start([sys.executable, "-m", "muselink.core.cli", "--log-level", "warning", "midi", "bridge",
                          "--endpoint", daemon, "--api", "jack", "--bpm", str(BPM), "--pause-beats", "1",
                          "--grid", "1/16", "--bars", "1", "--seed", "7", "--json", "--duration", "90"],
                         stdout=subprocess.PIPE, stderr=open(tmp_path / "bridge.err", "w"), text=True, env=env)
    events: queue.Queue = queue.Queue()
    lines(bridge, events)
    seen: list = []
    ready = json.loads(wait_for(events, lambda line: '"ready"' in line, 30, "the bridge's ports", seen))
    assert ready["api"] == "jack"

    heard: list = []
    procs.open_input("muselink-out:muselink out",
                     callback=lambda m: heard.append((time.perf_counter(), m)) if m.type != "clock" else None)
    player = procs.open_output("muselink-in:muselink in")
    ardour_out: queue.Queue = queue.Queue()
    lua = tmp_path / "record.lua"
    lua.write_text(ARDOUR_SCRIPT)
    stop_file = tmp_path / "stop"
    session = tmp_path / "session"
    ardour = procs.start(["ardour7-lua", str(lua), str(session), "muselink-out:muselink out", str(stop_file)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                         env=ardour_env(tmp_path))
    lines(ardour, ardour_out)
    ardour_log: list = []
    ready_line = wait_for(ardour_out, lambda line: line.startswith("READY"), 40, "Ardour recording", ardour_log,
                          fail=lambda line: line.startswith("Error"))
    assert ready_line == "READY true true", ready_line

    answers, latencies = [], []
    try:
        for phrase in PHRASES:
            t0 = time.perf_counter() + 0.05
            for t, kind, pitch in sorted([(t0 + a, 1, p) for p, a, _ in phrase] + [(t0 + b, 0, p) for p, _, b in phrase]):
                time.sleep(max(0.0, t - time.perf_counter()))
                player.send(mido.Message("note_on", note=pitch, velocity=96) if kind else mido.Message("note_off", note=pitch))
            last_off = time.perf_counter()
            answer = json.loads(wait_for(events, lambda line: '"answer"' in line or '"error"' in line, 30,
                                         "the model's answer", seen))
            assert answer["event"] == "answer", answer
            answers.append(answer)
            expected = len(answer["notes"])
            end = time.monotonic() + 15
            while time.monotonic() < end:
                done = [m for t, m in heard if t > last_off and m.type == "note_off"]
                if len(done) >= expected:
                    break
                time.sleep(0.05)
            first_on = next(t for t, m in heard if t > last_off and m.type == "note_on")
            latencies.append(first_on - last_off)
            time.sleep(0.3)
    finally:  # stop recording; a failure here must not hide one from the loop above
        stop_file.write_text("stop")
        try:
            wait_for(ardour_out, lambda line: line == "SAVED", 20, "Ardour to save", ardour_log)
            ardour.wait(20)
        except (AssertionError, subprocess.TimeoutExpired) as exc:
            print(f"Ardour did not stop cleanly: {exc}")
        stop_bridge(bridge)

    # the bridge answered what the model returned, and Ardour recorded exactly that
    take, onsets = recorded_onsets(session)
    assert_recorded_answers(onsets, answers, [t for t, m in heard if m.type == "note_on"], GRID_S)

    # render the recording and check it is not silent
    wav = tmp_path / "answer.wav"
    subprocess.run(["fluidsynth", "-ni", "-g", "1.0", "-F", str(wav), "-r", "44100", str(SOUNDFONT), str(take)],
                   check=True, capture_output=True, timeout=60)
    with wave.open(str(wav)) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768
    rms = float(np.sqrt(np.mean(audio ** 2)))
    assert audio.size > 44100 and rms > 0.005, f"rendered answer is silent (rms {rms:.5f})"

    report = {"answers": len(answers), "notes": len(onsets), "latency_ms": [round(x * 1000, 1) for x in latencies],
              "p50_ms": round(percentile(latencies, 50) * 1000, 1), "p99_ms": round(percentile(latencies, 99) * 1000, 1),
              "answer_ready_s": [a["since_release_s"] for a in answers], "model_load_and_first_job_s": round(warm, 2),
              "rms": round(rms, 4), "jack_period": PERIOD}
    print("\nDAW e2e latency (last phrase note-off -> first answered note-on):", json.dumps(report))
    out = Path(os.environ.get("MUSELINK_REPORT_DIR", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    (out / "midi-e2e-latency.json").write_text(json.dumps(report, indent=1))


def stop_bridge(bridge: subprocess.Popen) -> None:
    """Ctrl-C, as a user would (the bridge sends all-notes-off); a bridge that hangs is killed."""
    stop(bridge, signal.SIGINT)


def start_bridge(procs, tmp_path, endpoint, *extra):
    bridge = procs.start([sys.executable, "-m", "muselink.core.cli", "--log-level", "warning", "midi", "bridge",
                          "--endpoint", endpoint, "--api", "jack", "--bpm", str(BPM), "--pause-beats", "1",
                          "--bars", "1", "--seed", "3", "--json", "--duration", "60", "--timeout", "1", *extra],
                         stdout=subprocess.PIPE, stderr=open(tmp_path / "bridge.err", "w"), text=True)
    events: queue.Queue = queue.Queue()
    lines(bridge, events)
    return bridge, events


@pytest.mark.host
@pytest.mark.timeout(90)
def test_bridge_keeps_its_ports_while_the_daemon_is_down_and_answers_once_it_is_up(jack, daemon_factory, tmp_path):
    """With no daemon the bridge opens its ports, says to start 'muselink serve', keeps the phrase,
    and plays the answer once a daemon comes up on that endpoint."""
    from muselink.core.demo import free_endpoint

    endpoint = free_endpoint()
    bridge, events = start_bridge(jack, tmp_path, endpoint, "--retry-for", "60")
    seen: list = []
    wait_for(events, lambda line: '"ready"' in line, 30, "the bridge's ports", seen)
    heard: list = []
    jack.open_input("muselink-out:muselink out", callback=lambda m: heard.append(m))
    player = jack.open_output("muselink-in:muselink in")
    try:
        for pitch, a, b in PHRASES[0]:
            player.send(mido.Message("note_on", note=pitch, velocity=90))
            time.sleep(b - a)
            player.send(mido.Message("note_off", note=pitch))
            time.sleep(0.03)
        down = json.loads(wait_for(events, lambda line: '"daemon_down"' in line, 10, "a daemon-down message", seen))
        assert "muselink serve" in down["message"] and "ports stay open" in down["message"]
        daemon_factory(endpoint=endpoint)
        answer = json.loads(wait_for(events, lambda line: '"answer"' in line or '"error"' in line, 60, "the answer", seen))
        assert answer["event"] == "answer", answer
        assert_heard_in_order(heard, answer["notes"])
    finally:
        stop_bridge(bridge)


@pytest.mark.host
@pytest.mark.timeout(60)
def test_bridge_names_the_missing_port_and_lists_the_real_ones(jack, tmp_path):
    """--connect-in with a port that does not exist exits 1 naming it and listing what exists."""
    proc = subprocess.run([sys.executable, "-m", "muselink.core.cli", "midi", "bridge", "--api", "jack",
                           "--connect-in", "no-such-synth", "--duration", "1"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "no MIDI input port named 'no-such-synth'" in proc.stderr and "available:" in proc.stderr


@pytest.mark.host
@pytest.mark.timeout(60)
def test_bridge_connects_to_existing_ports_by_name(jack, daemon, tmp_path):
    """--connect-in/--connect-out attach to ports that already exist (as on Windows with loopMIDI), and the
    tempo follows the MIDI clock on the input (100 bpm) rather than --bpm (120)."""
    keyboard = jack.open_output("keys", client_name="e2e-keyboard")
    heard: list = []
    jack.open_input("synth", client_name="e2e-synth", callback=lambda m: heard.append(m))
    bridge, events = start_bridge(jack, tmp_path, daemon, "--connect-in", "e2e-keyboard", "--connect-out", "e2e-synth")
    seen: list = []
    ticking = threading.Event()

    def midi_clock():  # 24 pulses per quarter at 100 bpm, on an absolute schedule
        t = time.perf_counter()
        while not ticking.is_set():
            keyboard.send(mido.Message("clock"))
            t += 60.0 / 100 / 24
            time.sleep(max(0.0, t - time.perf_counter()))

    clock_thread = threading.Thread(target=midi_clock, daemon=True)
    try:
        wait_for(events, lambda line: '"ready"' in line, 30, "the bridge", seen)
        clock_thread.start()
        time.sleep(0.5)
        for pitch, a, b in PHRASES[1]:
            keyboard.send(mido.Message("note_on", note=pitch, velocity=90))
            time.sleep(b - a)
            keyboard.send(mido.Message("note_off", note=pitch))
            time.sleep(0.03)
        answer = json.loads(wait_for(events, lambda line: '"answer"' in line or '"error"' in line, 60, "the answer", seen))
        assert answer["event"] == "answer", answer
        assert answer["bpm"] == pytest.approx(100, abs=1.5)
        assert_heard_in_order(heard, answer["notes"])
    finally:
        ticking.set()
        if clock_thread.is_alive():
            clock_thread.join(2)
        stop_bridge(bridge)

"""muselink's Ardour actions inside Ardour 7 (headless ``ardour7-lua``, its dummy backend) against a real
daemon: the *installed* script file runs on a session with a MIDI region, through stand-ins for the
editor selection and dialogs (the GUI's ``Editor`` does not exist headless); what Ardour saved is read back."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_host

pytest.importorskip("mido")

from ardour_session import region_notes, regions, undo_transactions  # noqa: E402

from muselink.bridge.client import Client  # noqa: E402
from muselink.bridge.payloads import NotesData  # noqa: E402
from muselink.plugins.hosts.midi_files import splice  # noqa: E402

DRIVER = Path(__file__).with_name("ardour_action_session.lua")
TPB = 1920
BAR = 3 * TPB  # the session is in 3/4 at 100 bpm
ORIGIN = 2 * TPB + TPB  # the seed region starts at bar 2 (quarter 3)
SEED_END = ORIGIN + 4 * BAR
MELODY = [(1, 1, 67), (2, 1, 71), (3, 1, 74), (4, 2, 72), (6, 1, 71), (7, 0.5, 69), (7.5, 0.5, 71), (8, 1, 72),
          (9, 1, 74), (10, 1, 76), (11, 2, 74)]  # (source beat, beats, pitch); the driver adds one before and one after
SEED = [(ORIGIN + round((b - 1) * TPB), round(d * TPB), p, 90, 0) for b, d, p in MELODY]  # on the timeline


def install(tmp_path: Path) -> Path:
    """``muselink install ardour`` with the config folder in tmp; returns the Ardour 7 scripts folder."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    out = subprocess.run([sys.executable, "-m", "muselink.core.cli", "install", "ardour"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return tmp_path / "config" / "ardour7" / "scripts"


def run_action(tmp_path: Path, action: str, scenario: str, endpoint: str, answers: str = "seed=7") -> list[str]:
    """Run the installed ``muselink_<action>.lua`` in ardour7-lua; returns its output lines."""
    script = install(tmp_path) / f"muselink_{action}.lua"
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "MUSELINK_ENDPOINT": endpoint,
           "TMPDIR": str(tmp)}
    proc = subprocess.run(["stdbuf", "-oL", "ardour7-lua", str(DRIVER), str(tmp_path / "session"), str(script), scenario,
                           answers], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=150)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and "DONE" in lines, f"ardour7-lua exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    assert not list(tmp.iterdir()), f"the script left temporary files: {list(tmp.iterdir())}"
    return lines


def expected(endpoint: str, action: str, bars: tuple[int, int] = (2, 3)) -> tuple[list, int]:
    """The daemon's own answer to what the action sends (asked directly, not through the script), as notes
    relative to the seed's bar line, and where the answer region starts relative to it."""
    notes = NotesData.from_desc({"ppq": TPB, "bpm": 100.0, "time_signature": [3, 4],
                                 "notes": [[s - ORIGIN, d, p, v, c] for s, d, p, v, c in SEED]}, "seed")
    sampling = {"temperature": 0.9, "seed": 7}
    with Client(endpoint, name="expect", timeout=10) as client:
        if action == "continue":
            got = client.run("music.continue", {"notes": notes}, {"bars": 2, "after_tick": 4 * BAR, **sampling}, timeout=60)
            return got.payloads["notes"].notes, 4 * BAR
        if action == "variation":
            got = client.run("music.variation", {"notes": notes}, {"similarity": 0.5, **sampling}, timeout=60)
            return got.payloads["notes"].notes, 4 * BAR
        got = client.run("music.infill", {"notes": notes}, {"from_bar": bars[0], "to_bar": bars[1], **sampling}, timeout=60)
        return splice(notes, got.payloads["notes"], *bars).notes, 4 * BAR


@pytest.mark.host
@pytest.mark.timeout(240)
@pytest.mark.parametrize("action, scenario, bars", [
    ("continue", "midi", None),
    ("infill", "midi", (2, 3)),  # the region's middle bars
    ("infill", "range", (3, 3)),  # no region selected, a time range inside the region's third bar
    ("variation", "midi", None),
])
def test_action_adds_the_models_answer_after_the_region_and_one_undo_removes_it(action, scenario, bars, daemon_factory,
                                                                                tmp_path):
    """Running the installed action on the selected seed region (or a time range over it) adds one region right after
    it, named after the capability and seed, holding exactly the daemon's answer in the session's 3/4 at 100 bpm; the
    seed's notes are unchanged; undoing the one playlist step the action made leaves exactly the original regions."""
    require_host("ardour7-lua", "stdbuf")
    endpoint, _ = daemon_factory()
    lines = run_action(tmp_path, action, scenario, endpoint)
    assert not [line for line in lines if line.startswith("MESSAGE")], lines
    if action == "infill":  # the dialog offers the bars to redo
        assert f"FIELD from_bar {bars[0]} 1 4" in lines and f"FIELD to_bar {bars[1]} 1 4" in lines, lines
    session = tmp_path / "session"
    before = regions(session / "before.ardour", "melody")
    after = regions(session / "clip.ardour", "melody")
    undone = regions(session / "undone.ardour", "melody")

    assert [r.name for r in before] == ["seed"] and before[0].position == ORIGIN and before[0].end == SEED_END
    assert region_notes(session / "before.ardour", before[0]) == SEED
    assert after[0] == before[0] and region_notes(session / "clip.ardour", after[0]) == SEED  # source untouched
    assert len(after) == 2
    new = after[1]
    assert new.name == f"music.{action} seed 7"
    notes, at = expected(endpoint, action, bars or (2, 3))
    assert new.position == ORIGIN + at == SEED_END  # right after the source (4 whole bars: no gap)
    got = region_notes(session / "clip.ardour", new)
    if action == "continue":
        want = [(ORIGIN + n.start, n.duration, n.pitch, n.velocity, n.channel) for n in notes]
        assert all(n.start >= 4 * BAR for n in notes)
    else:
        want = [(ORIGIN + at + n.start, n.duration, n.pitch, n.velocity, n.channel) for n in notes]
        assert new.length == 4 * BAR
    assert got and got == sorted(want)
    if action == "variation":  # same rhythm, new pitches
        assert [g[:2] for g in got] == [(s + at, d) for s, d, *_ in SEED] and [g[2] for g in got] != [s[2] for s in SEED]

    assert undone == before
    last = undo_transactions(session / "clip.history")[-1]
    assert last.get("name") == f"muselink: {action}"
    steps = list(last)
    assert [s.tag for s in steps] == ["StatefulDiffCommand"] and steps[0].get("type-name") == "ARDOUR::MidiPlaylist"
    changes = [(c.tag, c.get("id")) for c in steps[0].iter() if c.tag in ("Add", "Remove")]
    assert changes == [("Add", new.id)]


@pytest.mark.host
@pytest.mark.timeout(240)
@pytest.mark.parametrize("scenario, daemon_up, message", [
    ("empty", True, "Select one or more MIDI regions first"),
    ("audio", True, "'voice take' is not a MIDI region"),
    ("midi", False, "muselink serve"),
])
def test_action_problems_appear_in_an_ardour_dialog_and_change_nothing(scenario, daemon_up, message, daemon_factory,
                                                                      tmp_path):
    """No selection, a selected audio region, or no daemon: the action shows one error dialog (not a Lua trace),
    returns within a few seconds, and the track keeps exactly its seed region."""
    require_host("ardour7-lua", "stdbuf")
    from muselink.core.demo import free_endpoint

    endpoint = daemon_factory()[0] if daemon_up else free_endpoint()
    lines = run_action(tmp_path, "continue", scenario, endpoint)
    shown = [line for line in lines if line.startswith("MESSAGE")]
    assert len(shown) == 1 and message in shown[0], lines
    assert "stack traceback" not in "\n".join(lines)
    elapsed = float(next(line for line in lines if line.startswith("ELAPSED")).split()[1])
    assert elapsed < 10, f"the action blocked Ardour for {elapsed:.1f} s"
    session = tmp_path / "session"
    assert regions(session / "clip.ardour", "melody") == regions(session / "before.ardour", "melody")

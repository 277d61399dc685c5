"""The Ardour add-on without Ardour: the clip request/answer of ``muselink midi clip``, the installer,
and the command itself against a real daemon."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from muselink.bridge.payloads import BlobData, Note, NotesData
from muselink.plugins.hosts import ardour_installer as installer
from muselink.plugins.hosts.midi_clip import answer, answer_text, infill_bars, job, parse_request

BAR34 = 3 * 1920


def request(action="continue", clip=(0, 4 * BAR34), params=None, notes=None) -> dict:
    notes = notes or [[i * 1920, 1920, 60 + i % 5, 90, 0] for i in range(12)]
    return {"action": action, "notes": {"ppq": 1920, "bpm": 100.0, "time_signature": [3, 4], "notes": notes},
            "clip": list(clip), "params": params or {}}


@pytest.mark.parametrize("change, message", [
    ({"action": "remix"}, "'action' must be one of continue, infill, variation"),
    ({"clip": [100, 50]}, "'clip' must have 0 <= start < end"),
    ({"clip": "all"}, "'clip' must be [start, end]"),
    ({"notes": {"ppq": 1920, "bpm": 100.0, "notes": []}}, "no notes inside it"),
    ({"notes": {"ppq": 1920, "bpm": 100.0, "notes": [[0, 0, 60, 90, 0]]}}, "notes[0] out of range"),
    ({"params": {"similarity": 0.5}}, "unknown: similarity"),
])
def test_bad_requests_name_what_is_wrong(change, message):
    """Each malformed request field gives a ValueError that names it."""
    with pytest.raises(ValueError) as err:
        parse_request({**request(), **change})
    assert message in str(err.value)


def test_infill_redoes_the_middle_bars_by_default_and_refuses_bars_outside_the_clip():
    """4 bars → bars 2-3, 2 bars → bar 2, 1 bar → bar 1; explicit bars outside the clip name the parameters."""
    assert infill_bars(parse_request(request("infill"))) == (2, 3)
    assert infill_bars(parse_request(request("infill", clip=(0, 2 * BAR34)))) == (2, 2)
    assert infill_bars(parse_request(request("infill", clip=(0, BAR34)))) == (1, 1)
    assert infill_bars(parse_request(request("infill", params={"from_bar": 1, "to_bar": 1}))) == (1, 1)
    with pytest.raises(ValueError, match="'from_bar' .* 'to_bar'"):
        infill_bars(parse_request(request("infill", params={"from_bar": 3, "to_bar": 7})))


def test_continue_asks_for_bars_after_the_clip_end():
    """continue passes bars and the clip's end (after_tick) plus the sampling parameters the dialog gave."""
    cap, params = job(parse_request(request(params={"bars": 3, "seed": 5, "temperature": 0.7})))
    assert cap == "music.continue" and params == {"bars": 3, "after_tick": 4 * BAR34, "seed": 5, "temperature": 0.7}


def test_answers_go_after_the_clip_and_a_new_take_keeps_the_clips_place_in_the_bar():
    """continue's answer starts at the clip's end; a variation of a clip starting mid-bar is placed whole bars
    later, after the clip, so its notes keep their place in the bar."""
    req = parse_request(request())
    new = NotesData((Note(4 * BAR34, 960, 67, 80), Note(4 * BAR34 + 960, 960, 69, 80)), 1920, 100.0, (3, 4))
    ans = answer(req, {"notes": new}, {"seed": 9, "end_tick": 5 * BAR34})
    assert (ans["start"], ans["end"], ans["at"], ans["name"]) == (4 * BAR34, 5 * BAR34, 4 * BAR34, "music.continue seed 9")
    mid = parse_request(request("variation", clip=(BAR34 // 2, 2 * BAR34)))
    take = NotesData(tuple(Note(s, 480, 62) for s in (BAR34 // 2, BAR34, 3 * BAR34)), 1920, 100.0, (3, 4))
    ans = answer(mid, {"notes": take}, {"seed": 1})
    assert ans["at"] >= mid.clip[1] and (ans["at"] - mid.clip[0]) % BAR34 == 0
    assert [n[0] for n in ans["notes"]] == [BAR34 // 2, BAR34]  # the note outside the clip is not part of the take


def test_infill_answer_is_the_whole_clip_with_the_chosen_bars_replaced():
    """The infill answer keeps the clip's notes outside bars 2-3 and takes the model's notes inside them."""
    req = parse_request(request("infill"))
    model = NotesData((Note(BAR34, 1920, 72), Note(2 * BAR34 + 960, 960, 74)), 1920, 100.0, (3, 4))
    ans = answer(req, {"notes": model}, {"seed": 2})
    starts = {n[0]: n[2] for n in ans["notes"]}
    assert starts[BAR34] == 72 and starts[2 * BAR34 + 960] == 74 and starts[0] == 60 and starts[3 * BAR34] == 64
    assert not any(BAR34 <= s < 3 * BAR34 and s not in (BAR34, 2 * BAR34 + 960) for s in starts)


def test_answer_text_is_json_with_one_note_per_line_as_the_lua_reader_expects():
    """answer_text is valid JSON; each note matches the pattern the Ardour script reads notes with."""
    ans = {"action": "continue", "capability": "music.continue", "name": "music.continue seed 1", "seed": 1,
           "start": 0, "end": 10, "at": 0, "ppq": 1920, "notes": [[0, 480, 60, 90, 0], [480, 480, 62, 91, 15]]}
    text = answer_text(ans)
    assert json.loads(text) == ans
    lua_note = re.compile(r"\[(-?\d+), (\d+), (\d+), (\d+), (\d+)\]")  # %[(%-?%d+), (%d+), (%d+), (%d+), (%d+)%]
    assert [list(map(int, m)) for m in lua_note.findall(text)] == ans["notes"]
    assert re.search(r'"name": "([^"]*)"', text).group(1) == ans["name"]
    assert json.loads(answer_text({**ans, "notes": []}))["notes"] == []


def test_answer_may_come_as_a_midi_file():
    """A result carrying only a MIDI blob is read like a notes payload."""
    from muselink.core.midifile import midi_from_notes

    req = parse_request(request())
    blob = BlobData("audio/midi", midi_from_notes(NotesData((Note(4 * BAR34, 480, 65),), 1920, 100.0, (3, 4))))
    assert answer(req, {"midi": blob}, {"seed": 4})["notes"] == [[4 * BAR34, 480, 65, 80, 0]]


# ---- installer ----------------------------------------------------------------------------------

def test_rendered_scripts_are_complete_and_quote_the_command(tmp_path):
    """Every placeholder is filled; a command path with quotes and backslashes is a valid Lua string; each
    script declares an EditorAction named after its action and carries the uninstall mark."""
    for action in installer.ACTIONS:
        text = installer.render(action, ['C:\\Program Files\\py"thon.exe', "-m", "muselink.core.cli"], 30)
        assert "@" not in text.split("function factory")[1]
        assert f'name        = "muselink: {action}"' in text and '"EditorAction"' in text
        assert 'local COMMAND = { "C:\\\\Program Files\\\\py\\"thon.exe", "-m", "muselink.core.cli" }' in text
        assert "local TIMEOUT = 30 " in text and installer.MARK in text


def test_install_writes_the_actions_for_ardour_7_and_8_and_uninstall_removes_only_them(tmp_path, monkeypatch, capsys):
    """With no Ardour folder yet both 7 and 8 get the three scripts; with only ardour8 present only it does;
    uninstall removes muselink's files and leaves a user's file of the same name alone."""
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "a"))
    installer.install(type("Args", (), {})())
    for v in (7, 8):
        assert sorted(p.name for p in (tmp_path / "a" / f"ardour{v}" / "scripts").iterdir()) == \
            ["muselink_continue.lua", "muselink_infill.lua", "muselink_variation.lua"]
    assert "Script Manager" in capsys.readouterr().out
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "b"))
    (tmp_path / "b" / "ardour8").mkdir(parents=True)
    assert installer.script_dirs() == [tmp_path / "b" / "ardour8" / "scripts"]
    mine = tmp_path / "a" / "ardour7" / "scripts" / "muselink_infill.lua"
    mine.write_text("-- my own script\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "a"))
    installer.uninstall(type("Args", (), {})())
    assert [p.name for p in (tmp_path / "a" / "ardour7" / "scripts").iterdir()] == ["muselink_infill.lua"]
    assert not list((tmp_path / "a" / "ardour8" / "scripts").iterdir())


@pytest.mark.parametrize("platform, env, expected", [
    ("darwin", {}, "Library/Preferences/Ardour8/scripts"),
    ("win32", {"LOCALAPPDATA": "/w/Local"}, "/w/Local/ardour8/scripts"),
    ("linux", {"XDG_CONFIG_HOME": "/x/cfg"}, "/x/cfg/ardour8/scripts"),
])
def test_scripts_folder_per_os(platform, env, expected, monkeypatch):
    """Ardour's user scripts folder: ~/.config/ardourN (Linux), ~/Library/Preferences/ArdourN (macOS),
    %LOCALAPPDATA%/ardourN (Windows); --ardour-config overrides."""
    monkeypatch.setattr(sys, "platform", platform)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert installer.script_dirs()[-1].as_posix().endswith(expected)
    assert installer.script_dirs("/opt/my-ardour").pop().as_posix() == "/opt/my-ardour/scripts"


# ---- the command ---------------------------------------------------------------------------------

def clip_cli(req_path, out_path, *extra, timeout=60):
    return subprocess.run([sys.executable, "-m", "muselink.core.cli", "midi", "clip", str(req_path), "-o", str(out_path),
                           *extra], capture_output=True, text=True, timeout=timeout)


def test_clip_command_writes_the_answer_of_a_real_daemon(shared_daemon, tmp_path):
    """`muselink midi clip` sends a continue request to the daemon and writes the answer file: the new notes
    after the clip's end, named after capability and seed."""
    req = tmp_path / "req.json"
    req.write_text(json.dumps(request(params={"bars": 1, "seed": 21})))
    proc = clip_cli(req, tmp_path / "ans.json", "--endpoint", shared_daemon)
    assert proc.returncode == 0, proc.stderr
    ans = json.loads((tmp_path / "ans.json").read_text())
    assert ans["name"] == "music.continue seed 21" and ans["start"] == ans["at"] == 4 * BAR34
    assert ans["notes"] and all(4 * BAR34 <= n[0] < ans["end"] <= 5 * BAR34 for n in ans["notes"])


def test_clip_command_errors_are_one_line_and_the_deadline_holds(tmp_path):
    """A bad request names the field; no daemon says to start one; --deadline ends the command (exit 124) even
    while it is still waiting to connect."""
    from muselink.core.demo import free_endpoint

    req = tmp_path / "req.json"
    req.write_text(json.dumps(request(clip=(9, 3))))
    proc = clip_cli(req, tmp_path / "a.json")
    assert proc.returncode == 1 and "'clip' must have" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    req.write_text(json.dumps(request()))
    proc = clip_cli(req, tmp_path / "a.json", "--endpoint", free_endpoint(), "--timeout", "1")
    assert proc.returncode == 1 and "muselink serve" in proc.stderr
    started = time.monotonic()
    proc = clip_cli(req, tmp_path / "a.json", "--endpoint", free_endpoint(), "--timeout", "30", "--deadline", "1.5")
    assert proc.returncode == 124 and "no answer within 1.5 s" in proc.stderr
    assert time.monotonic() - started < 10
    assert not (tmp_path / "a.json").exists()

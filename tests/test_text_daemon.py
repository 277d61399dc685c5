"""text.* through a real daemon subprocess: streaming, cancel, one model load, the text lane, the DAW file path."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime_genai")
pytest.importorskip("pyphen")
pytest.importorskip("mido")

from muselink.bridge import protocol as P  # noqa: E402
from muselink.bridge.payloads import Note, NotesData  # noqa: E402
from muselink.core.midifile import lyrics_of, midi_from_notes  # noqa: E402
from muselink.plugins.text.evaluate import check_lyrics, melodies  # noqa: E402



def long_song() -> NotesData:
    """Twinkle eight times over (224 notes): a text job that cannot end early (lyrics stop only at the last note)."""
    tune = melodies()["twinkle"]
    span = 32 * tune.ppq
    notes = tuple(Note(n.start + k * span, n.duration, n.pitch, n.velocity, n.channel) for k in range(8) for n in tune.notes)
    return NotesData(notes, tune.ppq, tune.bpm, tune.time_signature, tune.key)


def events_until_done(client, handle, timeout=120.0) -> list:
    seen = []
    deadline = time.monotonic() + timeout
    while not handle.done and time.monotonic() < deadline:
        seen += [e for e in client.poll(0.05) if getattr(e, "job", None) == handle.id]
    assert handle.done, f"{handle.capability} did not finish in {timeout} s"
    return seen


def wait_progress(client, handle, count: int, timeout=120.0) -> list:
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += [e for e in client.poll(0.05) if isinstance(e, P.Progress) and e.job == handle.id and e.message]
    assert len(got) >= count, f"no progress from {handle.capability}"
    return got


def test_text_streams_partial_text_in_the_text_lane(shared_client):
    """text.write is accepted in the 'text' lane and its progress messages carry the growing text."""
    handle = shared_client.submit("text.write", {}, {"kind": "verse", "topic": "the moon", "seed": 2})
    seen = events_until_done(shared_client, handle)
    lanes = [e.lane for e in seen if isinstance(e, P.Accepted)]
    texts = [e.message for e in seen if isinstance(e, P.Progress) and e.message]
    assert lanes == ["text"]
    assert len(texts) >= 5
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))  # token by token
    result = handle.terminal
    assert isinstance(result, P.Result)
    assert result.meta["text"].splitlines()[0].strip() in texts[-1]
    assert result.payloads["text"].to_bytes().decode() == result.meta["text"]


def test_cancel_stops_a_text_job_within_a_token(shared_client):
    """A cancelled text job ends 'cancelled' promptly, with at most a word or two of progress after the cancel."""
    handle = shared_client.submit("text.lyrics", {"notes": long_song()}, {"seed": 1})
    wait_progress(shared_client, handle, 3)
    start = time.monotonic()
    shared_client.cancel(handle.id)
    after = events_until_done(shared_client, handle, timeout=10)
    assert isinstance(handle.terminal, P.Cancelled)
    assert time.monotonic() - start < 2.0
    assert len([e for e in after if isinstance(e, P.Progress)]) <= 2


def test_the_model_loads_once_and_stays_cached(shared_client):
    """Several text jobs of every kind share one load of the model."""
    shared_client.run("text.write", {}, {"kind": "title", "topic": "rain", "seed": 1}, timeout=120)
    shared_client.run("text.expand_prompt", {}, {"prompt": "a lighthouse", "seed": 1}, timeout=120)
    loads = shared_client.status().plugins["models"]["loads"]
    text_loads = {k: v for k, v in loads.items() if k.startswith("text:")}
    assert list(text_loads.values()) == [1]


def test_a_running_text_job_does_not_delay_a_midi_answer(shared_client):
    """While a long text job streams, music.continue is answered before the text job ends."""
    handle = shared_client.submit("text.lyrics", {"notes": long_song()}, {"seed": 2})
    wait_progress(shared_client, handle, 2)
    tune = NotesData(tuple(Note(i * 240, 240, p, 90, 0) for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62])),
                     480, 100.0, (4, 4), "C major")
    result = shared_client.run("music.continue", {"notes": tune}, {"bars": 1, "seed": 1}, timeout=60)
    assert result.payloads["notes"].notes
    assert not handle.done  # the text job is still writing
    shared_client.cancel(handle.id)
    events_until_done(shared_client, handle, timeout=10)


def test_lyrics_job_returns_midi_with_one_syllable_per_note(shared_client):
    """text.lyrics on a MIDI melody returns its notes with a lyric event on each, plus the text."""
    notes = melodies()["ode_to_joy"]
    from muselink.bridge.payloads import BlobData

    result = shared_client.run("text.lyrics", {"notes": BlobData("audio/midi", midi_from_notes(notes))},
                               {"theme": "friends", "seed": 3}, timeout=120)
    midi = result.payloads["midi"].to_bytes()
    assert check_lyrics(notes, midi) == (30, 30)
    assert len(lyrics_of(midi)) == 30
    assert result.payloads["text"].to_bytes().decode() == result.meta["text"]
    assert result.meta["syllables_per_line"] == result.meta["notes_per_line"]


def test_midi_lyrics_command_writes_the_song_with_lyrics(shared_daemon, tmp_path):
    """`muselink midi lyrics song.mid -o song-lyrics.mid --theme ...` writes a MIDI file with one syllable per note."""
    notes = melodies()["twinkle"]
    song = tmp_path / "song.mid"
    song.write_bytes(midi_from_notes(notes))
    out = tmp_path / "song-lyrics.mid"
    proc = subprocess.run([sys.executable, "-m", "muselink.core.cli", "midi", "lyrics", str(song), "-o", str(out),
                           "--theme", "stars", "--seed", "5", "--endpoint", shared_daemon], capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert check_lyrics(notes, out.read_bytes()) == (28, 28)
    assert len(proc.stdout.strip().splitlines()) == 4  # the four lines of the song, printed


def test_a_ban_list_in_the_config_dir_is_honoured(daemon_factory, client_factory, tmp_path, shared_client):
    """Words banned in <config>/text/banned_words.txt never appear in the daemon's expansions."""
    params = {"prompt": "a bowl of fruit on a table", "seed": 6}
    first = shared_client.run("text.expand_prompt", {}, params, timeout=120).meta["added"]
    banned = {w.lower() for phrase in first for w in phrase.split()}
    ban_file = tmp_path / "config" / "text" / "banned_words.txt"
    ban_file.parent.mkdir(parents=True)
    ban_file.write_text("\n".join(sorted(banned)) + "\n")
    endpoint, _ = daemon_factory()  # its config dir is tmp_path / "config"
    client = client_factory(endpoint)
    client.hello()
    again = client.run("text.expand_prompt", {}, params, timeout=120).meta
    added = {w.lower() for phrase in again["added"] for w in phrase.split()}
    assert added and not added & banned
    assert again["prompt"].startswith(params["prompt"]) and again["user_words_kept"] == 1.0


def test_muselink_run_prints_a_text_result_without_an_output_file(shared_daemon):
    """`muselink run text.expand_prompt -p prompt=...` prints the expanded prompt; an image result still needs -o."""
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "muselink.core.cli", "run", *args, "--endpoint", shared_daemon],
                              capture_output=True, text=True, timeout=180)

    proc = cli("text.expand_prompt", "-p", "prompt=a castle at dawn", "-p", "seed=3", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("a castle at dawn,") and len(proc.stdout.split()) > 5
    proc = cli("debug.echo", "-i", str(Path(__file__).resolve().parents[1] / "docs" / "images" / "lyrics-score.png"))
    assert proc.returncode != 0 and "-o/--output" in proc.stderr

"""Regenerate docs/images/lyrics-score.png: text.lyrics on a public-domain tune, engraved by MuseScore.

    .venv/bin/python docs/images/make_lyrics_score.py [--seed 4] [--theme "the sea at night"]

Runs the real capability (in process, the same code the daemon runs), writes its MIDI file with lyric
events to docs/images/lyrics-score.mid, turns notes + lyric events into MusicXML with music21 (syllables
joined by hyphens: MuseScore 3.2's own MIDI import treats a lyric at tick 0 as the title and shows
hyphens literally) and renders it with ``musescore3`` offscreen (Debian package ``musescore3``).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def musicxml(midi: bytes, title: str, path: Path) -> None:
    """Melody notes (with rests) and their lyric events → a one-part MusicXML score."""
    from music21 import clef, key, meter, metadata, note, stream

    from muselink.core.midifile import lyrics_of, notes_from_midi
    from muselink.plugins.text.lyrics import melody

    notes = notes_from_midi(midi)
    words = dict(lyrics_of(midi))
    q = notes.ppq
    part = stream.Part()
    part.append([clef.TrebleClef(), key.Key(*(notes.key or "C major").split()),
                 meter.TimeSignature(f"{notes.time_signature[0]}/{notes.time_signature[1]}")])
    now, continues = 0, False
    for n in melody(notes):
        if n.start > now:
            part.append(note.Rest(quarterLength=(n.start - now) / q))
        length = round(2 * (n.duration + 24) / q) / 2 or 0.5  # the tunes are on an eighth grid
        m = note.Note(n.pitch, quarterLength=length)
        if m.pitch.accidental is not None and m.pitch.accidental.name == "natural":
            m.pitch.accidental = None
        text = words.get(n.start, "")
        hyphen = text.endswith("-")
        syllabic = {(False, False): "single", (False, True): "begin", (True, True): "middle", (True, False): "end"}
        m.lyrics.append(note.Lyric(text=text.rstrip("-"), syllabic=syllabic[(continues, hyphen)]))
        continues = hyphen
        part.append(m)
        now = n.start + round(length * q)
    score = stream.Score([part])
    score.metadata = metadata.Metadata(title=title)
    score.metadata.composer = "words: SmolLM2-135M-Instruct via muselink"
    score.makeNotation(inPlace=True)
    score.write("musicxml", fp=str(path))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--theme", default="the sea at night")
    parser.add_argument("--tune", default="ode_to_joy", choices=("ode_to_joy", "twinkle"))
    args = parser.parse_args()
    if shutil.which("musescore3") is None:
        raise SystemExit("musescore3 is not installed (apt-get install musescore3)")
    from muselink.bridge.payloads import BlobData
    from muselink.core.capability import JobContext
    from muselink.core.midifile import midi_from_notes
    from muselink.plugins.text import muselink_capabilities
    from muselink.plugins.text.evaluate import melodies

    cap = {c.name: c for c in muselink_capabilities()}["text.lyrics"]
    song = BlobData("audio/midi", midi_from_notes(melodies()[args.tune]))
    params = cap.validate({"theme": args.theme, "seed": args.seed}, {"notes": song})
    out = cap.run({"notes": song}, params, JobContext(job_id="docs"))
    midi = out.payloads["midi"].to_bytes()
    (HERE / "lyrics-score.mid").write_bytes(midi)
    print(out.meta["text"])
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "score.musicxml"
        musicxml(midi, f"text.lyrics — {args.tune.replace('_', ' ')}, theme “{args.theme}”, seed {args.seed}", xml)
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        subprocess.run(["musescore3", "-r", "110", "-T", "20", "-o", str(Path(tmp) / "score.png"), str(xml)],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pages = sorted(Path(tmp).glob("score*.png"))
        shutil.copy(pages[0], HERE / "lyrics-score.png")
    print(HERE / "lyrics-score.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

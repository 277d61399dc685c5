"""``muselink demo`` step: continue a sample melody through the daemon; write .mid files and a piano roll."""
from __future__ import annotations

from pathlib import Path

from muselink.bridge.payloads import BlobData, Note, NotesData

# "Ode to Joy" opening (Beethoven, public domain), eighth-note upbeat free, 4/4 in D major
SAMPLE = ((66, 1), (66, 1), (67, 1), (69, 1), (69, 1), (67, 1), (66, 1), (64, 1),
          (62, 1), (62, 1), (64, 1), (66, 1), (66, 1.5), (64, 0.5), (64, 2))


def sample_melody(ppq: int = 480) -> NotesData:
    notes, t = [], 0
    for pitch, beats in SAMPLE:
        notes.append(Note(int(t * ppq), int(beats * ppq), pitch, 90))
        t += beats
    return NotesData(notes=tuple(notes), ppq=ppq, bpm=100.0, time_signature=(4, 4), key="D major")


def demo_step(client, out_dir: Path, seed: int = 7, bars: int = 4) -> list[Path]:
    from .midi_io import to_midi
    from .pianoroll import render

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    melody = sample_melody()
    written = []
    src = out_dir / "melody.mid"
    src.write_bytes(to_midi(melody, {"source": "muselink demo sample: Ode to Joy (Beethoven)"}, "melody"))
    written.append(src)
    result = client.run("music.continue", {"notes": BlobData("audio/midi", src.read_bytes())},
                        {"bars": bars, "seed": seed, "temperature": 0.9, "top_p": 0.95})
    new = result.payloads["notes"]
    path = out_dir / "melody-continuation.mid"
    path.write_bytes(result.payloads["midi"].to_bytes())
    written.append(path)
    both = NotesData(notes=melody.notes + new.notes, ppq=melody.ppq, bpm=melody.bpm,
                     time_signature=melody.time_signature, key=melody.key)
    full = out_dir / "melody-continued.mid"
    full.write_bytes(to_midi(both, {k: result.meta[k] for k in ("model_hash", "seed", "params")}, "melody + continuation"))
    written.append(full)
    written.append(render(melody, new, out_dir / "melody-continuation.png",
                          title=f"music.continue: {bars} bars after 'Ode to Joy' (seed {seed}, model {result.meta['model_hash'][:8]})"))
    print(f"  {f'music.continue {bars} bars':26s}{result.meta['seconds']:.2f} s -> {full}")
    return written

"""``text.lyrics``: words for a melody, exactly one syllable under every note.

1. The melody is the top voice (one note per onset). Phrases end at rests of at least half a beat;
   a phrase longer than ``max_line`` notes is cut at bar lines (inside a long bar, in halves).
2. Each phrase becomes one line with exactly as many syllables (pyphen parts) as it has notes: words
   are sampled from the model and only kept while they fit the syllables left in the line
   (``decode.WordWriter``), so the count holds by construction.
3. Each note gets its syllable as a standard MIDI lyric meta event (``beau-`` ``ti-`` ``ful``: a
   trailing hyphen marks a syllable that continues the word), in the input's MIDI with its notes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from muselink.bridge.payloads import Note, NotesData

from .decode import Sampler, WordWriter
from .model import TextModel
from .syllables import Syllables

MAX_NOTES = 512


def as_notes(payload, where: str = "input 'notes'") -> NotesData:
    """NotesData, or a standard MIDI file (every track merged) → NotesData; ValueError naming the input."""
    from muselink.bridge.payloads import BlobData
    from muselink.core.api import notes_from_midi

    if isinstance(payload, BlobData):
        if payload.media_type not in ("audio/midi", "audio/x-midi"):
            raise ValueError(f"{where} must be a standard MIDI file (audio/midi), got {payload.media_type!r}")
        return notes_from_midi(payload.to_bytes(), where)
    if not isinstance(payload, NotesData):
        raise ValueError(f"{where} must be notes or a MIDI file, got {getattr(payload, 'kind', type(payload).__name__)}")
    return payload


def melody(notes: NotesData) -> list[Note]:
    """The top voice (drums on channel 10 left out): at each onset, the highest note."""
    top: dict[int, Note] = {}
    for n in notes.notes:
        if n.channel == 9:
            continue
        if n.start not in top or n.pitch > top[n.start].pitch:
            top[n.start] = n
    return [top[t] for t in sorted(top)]


def phrases(notes: NotesData, max_line: int = 10) -> list[list[Note]]:
    """Melody notes grouped into lines: at rests, then long lines cut at bar lines."""
    line = melody(notes)
    if not line:
        raise ValueError("input 'notes' has no notes; lyrics need a melody")
    if len(line) > MAX_NOTES:
        raise ValueError(f"input 'notes' has {len(line)} melody notes; at most {MAX_NOTES} get lyrics in one job")
    rest = notes.ppq // 2
    groups: list[list[Note]] = [[line[0]]]
    for prev, n in zip(line, line[1:], strict=False):
        if n.start - (prev.start + prev.duration) >= rest:
            groups.append([n])
        else:
            groups[-1].append(n)
    num, den = notes.time_signature
    bar = max(1, round(notes.ppq * 4 * num / den))
    out: list[list[Note]] = []
    for g in groups:
        out.extend(_cut(g, bar, max_line))
    return out


def _cut(group: list[Note], bar: int, max_line: int) -> list[list[Note]]:
    if len(group) <= max_line:
        return [group]
    bars: list[list[Note]] = []
    for n in group:
        if bars and n.start // bar == bars[-1][0].start // bar:
            bars[-1].append(n)
        else:
            bars.append([n])
    out: list[list[Note]] = []
    for b in bars:
        if len(b) > max_line:
            half = (len(b) + 1) // 2
            out.extend(_cut(b[:half], bar, max_line) + _cut(b[half:], bar, max_line))
        elif out and len(out[-1]) + len(b) <= max_line:
            out[-1].extend(b)
        else:
            out.append(list(b))
    return out


@dataclass
class Lyrics:
    lines: list[list[str]]            # words per line
    syllables: list[list[str]]        # syllables per line, one per note
    notes: list[list[Note]]           # the melody notes per line
    rejected: int = 0                 # sampled words undone because they did not fit
    fallbacks: int = 0                # words taken from the one-syllable fallback

    @property
    def text(self) -> str:
        return "\n".join(" ".join(words) for words in self.lines)

    def events(self) -> list[tuple[int, str]]:
        """(tick, syllable) per note: the MIDI lyric events."""
        return [(n.start, s) for notes, syls in zip(self.notes, self.syllables, strict=True)
                for n, s in zip(notes, syls, strict=True)]


def prompt(theme: str) -> str:
    theme = theme.strip() or "a quiet evening"
    return f"Write the lyrics of a simple song about {theme}. Use short lines of plain words."


def write(model: TextModel, notes: NotesData, theme: str, seed: int, temperature: float, top_p: float,
          max_line: int, check: Callable[[], None], report: Callable[[float, str], None],
          syllables: Syllables | None = None) -> Lyrics:
    groups = phrases(notes, max_line)
    syl = syllables or Syllables()
    session = model.session()
    sampler = Sampler(seed, temperature, top_p)
    writer = WordWriter(model, session, sampler, check)
    writer.feed(model.chat(prompt(theme)))
    mono = {start: _mono(model, writer, syl, start) for start in (True, False)}
    lines: list[list[str]] = []
    parts: list[list[str]] = []
    total = sum(len(g) for g in groups)
    done = 0
    for i, group in enumerate(groups):
        if i:
            writer.feed([writer.masks.newline])
        left = len(group)
        words: list[str] = []
        line_parts: list[str] = []
        while left > 0:
            def fits(word: str, left: int = left) -> bool:
                return syl.singable(word) and syl.count(word) <= left
            word = writer.word(fits, line_start=not words, fallback=mono[not words])
            split = syl.split(word)
            words.append(word)
            line_parts.extend(p + "-" for p in split[:-1])
            line_parts.append(split[-1])
            left -= len(split)
            done += len(split)
            report(done / total, "\n".join([*(" ".join(w) for w in lines), " ".join(words)]))
        lines.append(words)
        parts.append(line_parts)
    return Lyrics(lines, parts, groups, writer.rejected, writer.fallbacks)


def _mono(model: TextModel, writer: WordWriter, syl: Syllables, line_start: bool) -> np.ndarray:
    key = f"_muselink_mono_{line_start}"
    cached = getattr(model, key, None)
    if cached is None:
        cached = writer.one_token_words(lambda w: len(w) > 1 and syl.singable(w) and syl.count(w) == 1, line_start)
        setattr(model, key, cached)
    return cached

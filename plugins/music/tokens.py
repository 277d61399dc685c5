"""Tokens: MidiTok REMI for the notes, plus muselink's conditioning tokens (style, mode).

Every sequence starts ``[Style_<style>, Mode_<mode>]`` followed by REMI tokens (``Bar``, ``TimeSig``,
``Position``, ``Pitch``, ``Duration``) of the piece transposed to C major / A minor, so the model
learns one key per mode and a continuation is transposed back to the input's key.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .data import MODES, TPQ

STYLES = ("chorale", "folk")
PITCH_RANGE = (24, 101)  # MIDI pitches the tokenizer covers, after transposition to C / a
EXTRA_TOKENS = tuple(f"Style_{s}" for s in STYLES) + tuple(f"Mode_{m}" for m in MODES)
TIME_SIGNATURES = {8: [3, 6, 9, 12], 4: [2, 3, 4, 5, 6], 2: [2, 3, 4]}
POSITIONS_PER_BEAT = 4

MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_NAME_PC = {"C": 0, "B#": 0, "C#": 1, "DB": 1, "D": 2, "D#": 3, "EB": 3, "E": 4, "FB": 4, "F": 5, "E#": 5,
            "F#": 6, "GB": 6, "G": 7, "G#": 8, "AB": 8, "A": 9, "A#": 10, "BB": 10, "B": 11, "CB": 11}
SCALES = {"major": {0, 2, 4, 5, 7, 9, 11}, "minor": {0, 2, 3, 5, 7, 8, 10, 9, 11}}  # minor: natural + raised 6/7


class Vocab:
    """The REMI tokenizer plus extra ids; ``types[id]`` is the token's type name."""

    def __init__(self):
        from miditok import REMI, TokenizerConfig

        cfg = TokenizerConfig(pitch_range=PITCH_RANGE, beat_res={(0, 4): POSITIONS_PER_BEAT, (4, 8): 2},
                              use_velocities=False, use_time_signatures=True, use_programs=False,
                              special_tokens=["PAD", "BOS", "EOS"], time_signature_range=TIME_SIGNATURES)
        self.remi = REMI(cfg)
        base = len(self.remi)
        self.names = [self.remi[i] for i in range(base)] + list(EXTRA_TOKENS)
        self.ids = {n: i for i, n in enumerate(self.names)}
        self.types = [n.split("_")[0] for n in self.names]
        self.values = [n.split("_", 1)[1] if "_" in n else "" for n in self.names]

    def __len__(self) -> int:
        return len(self.names)

    def id(self, name: str) -> int:
        return self.ids[name]

    def prefix(self, style: str, mode: str) -> list[int]:
        return [self.ids[f"Style_{style}"], self.ids[f"Mode_{mode}"]]

    def encode_notes(self, notes, ts: tuple[int, int], tpq: int = TPQ) -> list[int]:
        """REMI ids for ``[[start, dur, pitch], ...]`` (ticks at ``tpq``; tick 0 is a bar line)."""
        import symusic

        score = symusic.Score(tpq)
        track = symusic.Track(program=0)
        for start, dur, pitch in notes:
            track.notes.append(symusic.Note(int(start), max(1, int(dur)), int(pitch), 80))
        score.tracks.append(track)
        score.time_signatures.append(symusic.TimeSignature(0, int(ts[0]), int(ts[1])))
        if not len(track.notes):
            return []
        seq = self.remi.encode(score)
        seq = seq[0] if isinstance(seq, list) else seq
        return list(seq.ids)

    def decode(self, ids) -> tuple[list[list[int]], int]:
        """REMI ids (no extra tokens) → (``[[start, dur, pitch], ...]``, ticks per quarter of those times)."""
        ids = [int(i) for i in ids if self.types[int(i)] not in ("Style", "Mode", "PAD", "BOS", "EOS")]
        if not ids:
            return [], TPQ
        score = self.remi.decode([ids])
        notes = sorted([n.time, n.duration, n.pitch] for t in score.tracks for n in t.notes)
        return notes, score.ticks_per_quarter


@lru_cache(maxsize=1)
def vocab() -> Vocab:
    return Vocab()


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0-11
    mode: str  # major | minor

    @property
    def name(self) -> str:
        return f"{PITCH_NAMES[self.tonic]} {self.mode}"

    def shift_to_reference(self) -> int:
        """Semitones that move this key to C major / A minor (in -5..6)."""
        target = 0 if self.mode == "major" else 9
        return (target - self.tonic + 5) % 12 - 5

    def contains(self, pitch: int) -> bool:
        return (pitch - self.tonic) % 12 in SCALES[self.mode] if self.mode == "major" else \
            (pitch - self.tonic) % 12 in SCALES["minor"]


def parse_key(text: str) -> Key:
    """``"C major"``, ``"a minor"``, ``"F#"``, ``"Bbm"``, ``"eb minor"`` → Key; ValueError naming the text."""
    raw = text.strip()
    parts = raw.replace("-", " ").split()
    if not parts:
        raise ValueError(f"parameter 'key' must look like 'C major' or 'a minor', got {text!r}")
    name = parts[0]
    mode = parts[1].lower() if len(parts) > 1 else None
    if name.lower().endswith("m") and len(name) > 1 and name[:-1].upper() in _NAME_PC and mode is None:
        name, mode = name[:-1], "minor"
    if mode is None:
        mode = "minor" if name[0].islower() else "major"
    mode = {"maj": "major", "min": "minor"}.get(mode, mode)
    pc = _NAME_PC.get(name.upper())
    if pc is None or mode not in MODES:
        raise ValueError(f"key must look like 'C major' or 'a minor', got {text!r}")
    return Key(pc, mode)


def detect_key(notes) -> Key:
    """Krumhansl–Schmuckler: correlate the duration-weighted pitch-class histogram with key profiles."""
    hist = np.zeros(12)
    for _, dur, pitch in notes:
        hist[int(pitch) % 12] += dur
    if hist.sum() == 0:
        return Key(0, "major")
    best, best_r = Key(0, "major"), -2.0
    for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            r = np.corrcoef(hist, np.roll(profile, tonic))[0, 1]
            if r > best_r + 1e-9:
                best, best_r = Key(tonic, mode), r
    return best


def fit_range(pitches: list[int], shift: int) -> int:
    """Adjust ``shift`` by octaves so the shifted pitches fit PITCH_RANGE as well as possible."""
    if not pitches:
        return shift
    lo, hi = min(pitches) + shift, max(pitches) + shift
    while lo < PITCH_RANGE[0] and hi + 12 < PITCH_RANGE[1]:
        shift, lo, hi = shift + 12, lo + 12, hi + 12
    while hi >= PITCH_RANGE[1] and lo - 12 >= PITCH_RANGE[0]:
        shift, lo, hi = shift - 12, lo - 12, hi - 12
    return shift


def piece_tokens(piece: dict, voc: Vocab | None = None) -> list[int]:
    """A cached corpus piece → full id sequence (prefix + REMI) in the reference key."""
    voc = voc or vocab()
    key = Key(piece["key"][0], piece["key"][1])
    notes = piece["notes"]
    shift = fit_range([n[2] for n in notes], key.shift_to_reference())
    moved = [[s, d, p + shift] for s, d, p in notes if PITCH_RANGE[0] <= p + shift < PITCH_RANGE[1]]
    return voc.prefix(piece["style"], key.mode) + voc.encode_notes(moved, tuple(piece["ts"]))

"""music.variation: same key, meter, rhythm and density, different notes, as many as ``similarity`` says;
and music.continue's ``after_tick`` (a DAW clip that ends in a rest)."""
from __future__ import annotations

import pytest

pytest.importorskip("miditok")

from muselink.bridge.client import JobFailed  # noqa: E402
from muselink.bridge.payloads import Note, NotesData  # noqa: E402
from muselink.plugins import music  # noqa: E402
from muselink.plugins.music import tokens  # noqa: E402
from muselink.plugins.music.variation import phrase_tokens  # noqa: E402


def phrase(pitches, lengths, ppq=480, ts=(4, 4), key=None) -> NotesData:
    t, notes = 0, []
    for p, d in zip(pitches, lengths, strict=True):
        notes.append(Note(t, d, p, 70 + p % 20, 3))
        t += d
    return NotesData(tuple(notes), ppq, 100.0, ts, key)


G_TUNE = phrase([67, 69, 71, 72, 74, 72, 71, 69, 67, 71, 74, 79, 78, 74, 76, 78, 79, 74, 71, 67],
                [240, 240, 480, 240, 240, 480, 480, 240, 240, 960, 240, 240, 480, 480, 480, 240, 240, 480, 480, 960])
A_MINOR = phrase([69, 72, 76, 81, 76, 72, 71, 68, 69, 64, 69, 72, 71, 69, 68, 69], [480] * 16)
D_JIG = phrase([62, 66, 69, 66, 62, 64, 66, 67, 69, 71, 69, 66, 62], [240] * 6 + [480, 240, 240, 480, 240, 240, 720],
               ts=(6, 8))


@pytest.fixture(scope="module")
def eng():
    return music.load_engine()


def key_of(notes: NotesData) -> tokens.Key:
    return tokens.detect_key([(n.start, n.duration, n.pitch) for n in notes.notes])


def per_bar(notes: NotesData) -> list[int]:
    bar = notes.ppq * 4 * notes.time_signature[0] // notes.time_signature[1]
    counts = [0] * (max(n.start for n in notes.notes) // bar + 1)
    for n in notes.notes:
        counts[n.start // bar] += 1
    return counts


def test_phrase_tokens_are_the_tokens_miditok_writes_for_melody_and_chords(eng):
    """The hand-built REMI sequence (one Pitch token per note) equals MidiTok's for a melody in 6/8 and for
    chords whose notes start together, so the model sees what it was trained on."""
    voc = tokens.vocab()
    chords = NotesData(tuple(Note(s, d, p) for s, d, p in [(0, 480, 60), (0, 480, 64), (0, 480, 67), (480, 240, 72),
                                                          (960, 960, 59), (960, 960, 62), (2880, 480, 60)]), 480)
    for notes in (D_JIG, chords):
        ts = tuple(notes.time_signature)
        mine = [s.token for s in phrase_tokens(notes, 0, voc)]
        theirs = voc.encode_notes([[n.start, n.duration, n.pitch] for n in notes.notes], ts, notes.ppq)
        assert mine == theirs


@pytest.mark.parametrize("tune", [G_TUNE, A_MINOR, D_JIG], ids=["G major 4/4", "a minor 4/4", "D major 6/8"])
def test_variation_keeps_meter_rhythm_and_density_and_changes_only_pitches(eng, tune):
    """Every note keeps its start, length, velocity and channel (so notes per bar are equal), the meter and tempo
    stay, and with similarity 0 every pitch is new."""
    out, info = eng.vary(tune, 0.0, 0.9, 0.95, 5)
    assert out.time_signature == tune.time_signature and out.bpm == tune.bpm and out.ppq == tune.ppq
    assert [(n.start, n.duration, n.velocity, n.channel) for n in out.notes] == \
        [(n.start, n.duration, n.velocity, n.channel) for n in tune.notes]
    assert per_bar(out) == per_bar(tune)
    assert all(a.pitch != b.pitch for a, b in zip(out.notes, tune.notes, strict=True))
    assert info["changed"] == len(tune.notes)


@pytest.mark.parametrize("tune", [G_TUNE, A_MINOR, D_JIG], ids=["G major 4/4", "a minor 4/4", "D major 6/8"])
def test_variation_stays_in_the_key(eng, tune):
    """New pitches are in the input's scale, within an octave of the note they replace, and the variation's
    detected key is the input's in at least 9 of 10 seeds even when every pitch is resampled."""
    key = key_of(tune)
    kept = 0
    for seed in range(10):
        out, info = eng.vary(tune, 0.0, 0.9, 0.95, seed)
        assert out.key == key.name
        assert all(key.contains(a.pitch) and abs(a.pitch - b.pitch) <= 12 for a, b in zip(out.notes, tune.notes, strict=True))
        kept += key_of(out) == key
        assert info["key_kept"] == (key_of(out) == key)
    assert kept >= 9


def test_similarity_sets_how_many_notes_change(eng):
    """similarity s keeps round(s * n) notes exactly as they were and changes the rest; 1 returns the input."""
    n = len(G_TUNE.notes)
    for similarity in (0.0, 0.25, 0.5, 0.8, 1.0):
        out, info = eng.vary(G_TUNE, similarity, 0.9, 0.95, 11)
        changed = sum(a.pitch != b.pitch for a, b in zip(out.notes, G_TUNE.notes, strict=True))
        assert changed == info["changed"] == n - round(similarity * n), similarity
    assert eng.vary(G_TUNE, 1.0, 0.9, 0.95, 11)[0].notes == G_TUNE.notes


def test_the_same_seed_gives_the_same_variation_and_others_differ(eng):
    """Variation is reproducible from its seed; other seeds give other notes."""
    a = eng.vary(A_MINOR, 0.3, 1.0, 1.0, 42)[0]
    assert eng.vary(A_MINOR, 0.3, 1.0, 1.0, 42)[0] == a
    assert any(eng.vary(A_MINOR, 0.3, 1.0, 1.0, s)[0].notes != a.notes for s in (43, 44, 45))


def test_continue_after_tick_starts_after_a_clip_that_ends_in_a_rest(eng):
    """A 2-bar clip whose notes end in bar 1 continues from the clip's end (after_tick), not from its last note."""
    short = phrase([60, 62, 64, 65], [480] * 4, key="C major")  # one bar of notes in a two-bar clip
    out, info = eng.continue_(short, 1, 0.9, 0.95, 4, after_tick=2 * 1920)
    assert out.notes and min(n.start for n in out.notes) >= 2 * 1920
    assert info["start_tick"] == 2 * 1920 and info["end_tick"] == 3 * 1920


def test_variation_through_the_daemon_and_a_bad_similarity_is_named(client):
    """music.variation answers with all the notes (a whole new take) and its provenance; similarity 1.5 is refused
    with an error naming 'similarity'."""
    result = client.run("music.variation", {"notes": G_TUNE}, {"similarity": 0.5, "seed": 3}, timeout=120)
    notes = result.payloads["notes"]
    assert len(notes.notes) == len(G_TUNE.notes) and notes.key == "G major"
    assert result.meta["seed"] == 3 and result.meta["changed"] == len(G_TUNE.notes) // 2
    caps = {c["name"]: c for c in client.hello().capabilities}
    assert {p["name"] for p in caps["music.variation"]["params"]} >= {"similarity", "temperature", "top_p", "seed"}
    with pytest.raises(JobFailed, match="similarity"):
        client.run("music.variation", {"notes": G_TUNE}, {"similarity": 1.5}, timeout=60)

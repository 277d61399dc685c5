"""The music model itself: tokenizer round trip on real corpus pieces, keys, baseline, checkpoint, engine."""
from __future__ import annotations

import math

import pytest

pytest.importorskip("miditok")
pytest.importorskip("music21")

from muselink.bridge.payloads import Note, NotesData  # noqa: E402
from muselink.plugins import music  # noqa: E402
from muselink.plugins.music import card, data, tokens  # noqa: E402


@pytest.fixture(scope="module")
def chorales():
    files = [f for f in data.corpus_files(("bach",))][:3]
    return [p for f in files for p in data.parse_file(*f)]


@pytest.fixture(scope="module")
def eng():
    return music.load_engine()


def melody(pitches, ppq=480, beats=1.0, key="C major", ts=(4, 4)) -> NotesData:
    step = int(ppq * beats)
    return NotesData(notes=tuple(Note(i * step, step, p, 90) for i, p in enumerate(pitches)), ppq=ppq, bpm=110.0,
                     time_signature=ts, key=key)


def test_remi_round_trip_keeps_every_note_of_real_chorales(chorales):
    """Tokenizing a Bach chorale with MidiTok REMI and decoding it gives back the same notes (times, pitches, and
    lengths up to the tokenizer's longest duration of 8 beats)."""
    voc = tokens.vocab()
    assert len(chorales) == 3
    for piece in chorales:
        ids = voc.encode_notes(piece["notes"], tuple(piece["ts"]))
        back, tpq = voc.decode(ids)
        scale = data.TPQ / tpq
        got = sorted({(round(s * scale), round(d * scale), p) for s, d, p in back})
        longest = 8 * data.TPQ * 4 // piece["ts"][1]
        want = sorted({(s, min(d, longest), p) for s, d, p in piece["notes"]})
        assert got == want, piece["id"]


def test_piece_tokens_start_with_style_and_mode_and_sit_in_reference_key(chorales):
    """A piece's sequence starts with its style and mode tokens and its pitches are moved to C major / A minor."""
    voc = tokens.vocab()
    piece = chorales[0]
    ids = tokens.piece_tokens(piece, voc)
    assert voc.names[ids[0]] == "Style_chorale" and voc.names[ids[1]].startswith("Mode_")
    pitches = [int(voc.values[i]) for i in ids if voc.types[i] == "Pitch"]
    ref = tokens.Key(0 if piece["key"][1] == "major" else 9, piece["key"][1])
    assert sum(ref.contains(p) for p in pitches) / len(pitches) > 0.85


def test_key_names_parse_and_bad_key_names_name_the_parameter():
    """Key names in several spellings parse; nonsense raises a ValueError mentioning 'key'."""
    assert tokens.parse_key("F# minor") == tokens.Key(6, "minor")
    assert tokens.parse_key("Bbm") == tokens.Key(10, "minor")
    assert tokens.parse_key("Eb") == tokens.Key(3, "major")
    with pytest.raises(ValueError, match="key"):
        tokens.parse_key("H dorian-ish")


def test_key_detection_finds_the_key_of_a_scale_and_arpeggios():
    """Krumhansl–Schmuckler detection names G major for a G major tune and A minor for an A minor one."""
    g = [(i, 1, p) for i, p in enumerate([67, 71, 74, 79, 74, 71, 72, 69, 66, 67, 62, 67])]
    a = [(i, 1, p) for i, p in enumerate([69, 72, 76, 81, 76, 72, 71, 68, 69, 64, 69, 57])]
    assert tokens.detect_key(g) == tokens.Key(7, "major")
    assert tokens.detect_key(a) == tokens.Key(9, "minor")


def test_four_gram_baseline_is_a_normalised_distribution():
    """The Kneser–Ney baseline's probabilities over the vocabulary sum to one, seen or unseen history."""
    from muselink.plugins.music.ngram import KneserNey

    lm = KneserNey(4, 20).fit([[1, 2, 3, 4, 5, 3, 4, 5, 6], [1, 2, 3, 7, 8, 3, 4]])
    for hist in [(), (3,), (2, 3), (3, 4, 5), (9, 9, 9)]:
        assert math.isclose(sum(lm.prob(hist, w) for w in range(20)), 1.0, rel_tol=1e-9)
    assert lm.prob((3, 4), 5) > lm.prob((3, 4), 7)


def test_committed_checkpoint_loads_and_its_hash_matches_the_model_card():
    """music.pt is ≤ 25 MB, loads with the tokenizer's vocabulary, and MODEL_CARD.md records its sha256."""
    assert music.CHECKPOINT.stat().st_size <= 25 * 1024 * 1024
    text = card.card_path(music.CHECKPOINT).read_text()
    assert card.hash_in_card(text) == card.sha256(music.CHECKPOINT)
    assert "non-commercial" in text
    e = music.load_engine()
    assert e.model.cfg.vocab_size == len(tokens.vocab())
    assert 500_000 < e.model.num_params() < 20_000_000


def test_continuation_starts_after_the_input_fills_the_requested_bars_and_stays_in_key(eng):
    """New notes start at/after the input's end, end by the requested bar line, and are mostly in the input's key."""
    tune = melody([67, 69, 71, 72, 74, 72, 71, 69, 67, 71, 74, 79, 78, 74, 76, 78], beats=0.5, key=None)  # G major
    end = 16 * 240
    shares = []
    for seed, bars in ((1, 1), (2, 2), (3, 3)):
        out, info = eng.continue_(tune, bars, 0.9, 0.95, seed)
        assert out.notes, seed
        assert min(n.start for n in out.notes) >= end
        assert max(n.start + n.duration for n in out.notes) <= end + bars * 4 * 480
        assert out.ppq == 480 and out.time_signature == (4, 4) and out.key == "G major"
        shares.append(sum(tokens.Key(7, "major").contains(n.pitch) for n in out.notes) / len(out.notes))
    assert sum(shares) / len(shares) >= 0.8


def test_same_seed_gives_the_same_notes_and_another_seed_usually_differs(eng):
    """Sampling is reproducible from the seed."""
    tune = melody([60, 62, 64, 65, 67, 65, 64, 62], key="C major")
    a, _ = eng.continue_(tune, 2, 1.0, 1.0, 42)
    b, _ = eng.continue_(tune, 2, 1.0, 1.0, 42)
    others = [eng.continue_(tune, 2, 1.0, 1.0, s)[0].notes for s in (43, 44, 45)]
    assert a.notes == b.notes
    assert any(o != a.notes for o in others)


def test_continuation_of_a_mid_bar_ending_in_six_eight_keeps_the_meter(eng):
    """A 6/8 input ending mid-bar continues after its last note and up to the bar line N bars later."""
    ppq = 96
    tune = melody([69, 72, 76, 74, 72, 71, 69], ppq=ppq, beats=0.5, key="a minor", ts=(6, 8))  # 7 eighths: into bar 2
    out, info = eng.continue_(tune, 2, 0.9, 0.95, 5)
    bar = 6 * ppq // 2
    assert min(n.start for n in out.notes) >= 7 * ppq // 2  # after the last note, inside bar 2
    assert max(n.start + n.duration for n in out.notes) <= 4 * bar  # rest of bar 2, then bars 3 and 4
    assert info["end_tick"] == 4 * bar


def test_generate_gives_the_requested_length_key_and_style(eng):
    """music.generate in D major 3/4 for 4 bars stays inside 4 bars; chorale style is polyphonic."""
    key = tokens.Key(2, "major")
    out, _ = eng.generate_(key, (3, 4), 90.0, "chorale", 4, 0.8, 0.95, 11)
    assert out.notes and max(n.start + n.duration for n in out.notes) <= 4 * 3 * 480
    starts = [n.start for n in out.notes]
    assert len(starts) > len(set(starts))  # chords: several voices start together
    assert sum(key.contains(n.pitch) for n in out.notes) / len(out.notes) >= 0.8


def test_infill_returns_notes_only_inside_the_requested_bars(eng):
    """Infilling bars 2-3 of a 4-bar tune yields notes that all start and end inside bars 2-3."""
    tune = melody([60, 64, 67, 72, 71, 67, 64, 62, 60, 62, 64, 65, 67, 65, 64, 60])
    out, info = eng.infill(tune, 1, 2, 0.9, 0.95, 3)
    lo, hi = 4 * 480, 12 * 480
    assert out.notes
    assert all(lo <= n.start and n.start + n.duration <= hi for n in out.notes)
    assert info["candidates"] > 1  # bars after the span were used to pick a candidate

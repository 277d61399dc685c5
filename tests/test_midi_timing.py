"""DAW bridge, pure timing: grid, quantisation, MIDI-clock tempo, phrase capture and pause detection."""
import mido
import pytest

from muselink.bridge.payloads import Note
from muselink.host_addons.midi.phrase import PhraseRecorder
from muselink.host_addons.midi.player import Player, untangle
from muselink.host_addons.midi.timing import (BeatMap, Grid, TempoTracker, alignment_shift, phrase_origin,
                                              quantise_notes)


@pytest.mark.parametrize("text,ticks", [("1/16", 120), ("1/8", 240), ("1/4", 480), ("1/8t", 160), ("off", 0)])
def test_grid_parses_divisions_into_ticks(text, ticks):
    """Grid names map to ticks per step at 480 ppq; 'off' means no quantisation."""
    assert Grid.parse(text).step_ticks(480) == ticks


@pytest.mark.parametrize("bad", ["sixteenth", "0/4", "3/2", "1/0"])
def test_grid_rejects_nonsense_with_a_clear_error(bad):
    """A grid that is not a fraction of a whole note raises ValueError naming the grid."""
    with pytest.raises(ValueError, match="grid"):
        Grid.parse(bad)


def test_quantise_snaps_starts_to_nearest_step_and_lengths_to_whole_steps():
    """Starts go to the nearest step; lengths round to whole steps, never below one step."""
    notes = [Note(130, 100, 60), Note(170, 10, 62), Note(475, 250, 64)]
    assert quantise_notes(notes, 120) == (Note(120, 120, 60), Note(120, 120, 62), Note(480, 240, 64))


def test_quantise_merges_duplicates_landing_on_the_same_step():
    """Two same-pitch notes snapped onto one step become one note (the longer)."""
    assert quantise_notes([Note(0, 120, 60), Note(10, 240, 60)], 120) == (Note(0, 240, 60),)


def test_tempo_from_midi_clock_and_none_without_it():
    """24 pulses per beat at 0.5 s per beat read as 120 bpm; the tempo is gone when pulses stop."""
    tracker = TempoTracker()
    assert tracker.bpm(0.0) is None
    for i in range(49):
        tracker.clock(i * 0.5 / 24)
    assert tracker.bpm(1.0) == pytest.approx(120.0, rel=1e-6)
    assert tracker.beat_anchor(1.0) == pytest.approx(1.0)  # pulse 48 is the third beat
    assert tracker.bpm(2.0) is None


def test_tempo_tracks_a_tempo_change():
    """After a full window at 100 bpm the tracker reads 100 bpm."""
    tracker = TempoTracker(window=48)
    t = 0.0
    for _ in range(48):
        tracker.clock(t)
        t += 0.5 / 24
    for _ in range(49):
        tracker.clock(t)
        t += 0.6 / 24
    assert tracker.bpm(t) == pytest.approx(100.0, rel=1e-6)


def test_phrase_origin_is_the_clock_beat_before_the_first_note():
    """With a clock the phrase starts on the beat at/before its first note; without, on the note."""
    assert phrase_origin(10.3, 120, anchor=8.0) == pytest.approx(10.0)
    assert phrase_origin(10.3, 120, anchor=None) == 10.3


def test_alignment_shift_keeps_phase_by_whole_beats():
    """A late answer is delayed by whole beats, so it stays on the same beat position."""
    shift = alignment_shift(first_answer_time=10.0, earliest=10.7, unit_seconds=0.5)
    assert shift == pytest.approx(1.0)
    assert alignment_shift(10.0, 9.0, 0.5) == 0.0
    assert alignment_shift(10.0, 10.2, 0.0) == pytest.approx(0.2)


def test_beat_map_converts_ticks_and_seconds_both_ways():
    """At 120 bpm and 480 ppq one beat is 0.5 s."""
    beats = BeatMap(origin=3.0, bpm=120, ppq=480)
    assert beats.tick_to_time(960) == pytest.approx(4.0)
    assert beats.time_to_tick(3.25) == pytest.approx(240)


def on(pitch, velocity=90, channel=0):
    return mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)


def off(pitch, channel=0):
    return mido.Message("note_off", note=pitch, channel=channel)


def test_pause_is_not_complete_while_a_key_is_held():
    """A held key keeps the phrase open however long the silence; release + pause completes it."""
    rec = PhraseRecorder()
    rec.feed(on(60), 0.0)
    assert not rec.pause_complete(10.0, 1.0)
    rec.feed(off(60), 10.0)
    assert not rec.pause_complete(10.9, 1.0)
    assert rec.pause_complete(11.0, 1.0)


def test_note_on_with_zero_velocity_ends_a_note_and_trigger_cc_is_recognised():
    """Running-status note-off (velocity 0) closes the note; the trigger CC reports 'trigger'."""
    rec = PhraseRecorder(trigger_cc=20)
    rec.feed(on(60), 0.0)
    assert rec.feed(on(60, velocity=0), 0.4) == "note_off"
    assert rec.phrase.notes[0].off == 0.4
    assert rec.feed(mido.Message("control_change", control=20, value=127), 0.5) == "trigger"
    assert rec.feed(mido.Message("control_change", control=20, value=0), 0.6) == "other"
    assert rec.feed(mido.Message("control_change", control=64, value=127), 0.6) == "other"


def test_phrase_to_notes_is_quantised_from_its_first_beat():
    """Captured seconds become ticks from the phrase origin, snapped to the grid."""
    rec = PhraseRecorder()
    for pitch, t_on, t_off in [(60, 10.01, 10.24), (62, 10.26, 10.49), (64, 10.74, 11.27)]:
        rec.feed(on(pitch), t_on)
        rec.feed(off(pitch), t_off)
    phrase = rec.take(12.0)
    notes = phrase.to_notes_data(BeatMap(10.0, 120, 480), step=120).notes
    assert [(n.start, n.duration, n.pitch) for n in notes] == [(0, 240, 60), (240, 240, 62), (720, 480, 64)]
    assert rec.empty


def test_player_sends_note_offs_before_note_ons_at_the_same_time():
    """A repeated pitch is released before it sounds again, and every note-on gets a note-off."""
    from muselink.bridge.payloads import NotesData

    player = Player()
    player.schedule(NotesData((Note(0, 480, 60), Note(480, 480, 60), Note(240, 960, 60))), BeatMap(0.0, 120, 480))
    sent = player.due(100.0)
    ons = [m for m in sent if m.type == "note_on"]
    offs = [m for m in sent if m.type == "note_off"]
    assert len(ons) == len(offs) == 3 and not player.sounding


def test_untangle_cuts_overlapping_same_pitch_notes():
    """Overlapping notes of one pitch end where the next one starts."""
    spans = [(s, e) for s, e, _ in untangle([Note(0, 480, 60), Note(240, 480, 60)])]
    assert spans == [(0, 240), (240, 720)]

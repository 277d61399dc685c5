"""Text capabilities without the model: syllables, phrases, lyric events, ban lists, CLIP counts, sampling."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyphen")
pytest.importorskip("mido")

from muselink.bridge.payloads import BlobData, Note, NotesData  # noqa: E402
from muselink.core.capability import JobContext  # noqa: E402
from muselink.core.midifile import lyrics_of, midi_from_notes, notes_from_midi  # noqa: E402
from muselink.plugins import text as text_plugin  # noqa: E402
from muselink.plugins.text.decode import END, Sampler  # noqa: E402
from muselink.plugins.text.evaluate import check_lyrics, distinct_2, melodies  # noqa: E402
from muselink.plugins.text.expand import ban_list  # noqa: E402
from muselink.plugins.text.lyrics import as_notes, melody, phrases  # noqa: E402
from muselink.plugins.text.syllables import Syllables  # noqa: E402


def caps() -> dict:
    return {c.name: c for c in text_plugin.muselink_capabilities()}


def test_syllables_come_from_pyphen_and_doubtful_words_are_not_singable():
    """pyphen splits 'beautiful' in three; 'away' (pyphen keeps it whole, spoken in two) is not singable."""
    syl = Syllables()
    assert syl.split("beautiful") == ("beau", "ti", "ful")
    assert syl.count("river") == 2 and syl.count("light") == 1
    assert syl.singable("river") and syl.singable("light")
    assert not syl.singable("away") and not syl.singable("x2") and not syl.singable("")


def test_phrases_break_at_rests_and_long_lines_at_bar_lines():
    """Twinkle's four rests give four 7-note lines; a 16-note run without rests is cut at its bar line."""
    assert [len(p) for p in phrases(melodies()["twinkle"])] == [7, 7, 7, 7]
    run = NotesData(tuple(Note(i * 240, 240, 60 + i % 5, 90, 0) for i in range(16)), 480, 100.0, (4, 4))
    lines = phrases(run, max_line=10)
    assert [len(p) for p in lines] == [8, 8]
    assert lines[1][0].start == 1920  # the second bar starts the second line


def test_melody_is_the_top_voice_without_drums():
    """Chords give one note per onset (the highest); channel 10 drums never get words."""
    notes = NotesData((Note(0, 480, 60, 90, 0), Note(0, 480, 64, 90, 0), Note(0, 480, 80, 90, 9),
                       Note(480, 480, 62, 90, 0)), 480, 100.0, (4, 4))
    assert [n.pitch for n in melody(notes)] == [64, 62]


def test_lyric_events_round_trip_through_a_midi_file_before_their_notes():
    """midi_from_notes writes lyric meta events at their ticks; lyrics_of reads them back; notes are intact."""
    notes = melodies()["twinkle"]
    events = [(n.start, "river") for n in melody(notes)]
    data = midi_from_notes(notes, lyrics=events)
    assert lyrics_of(data) == events
    assert notes_from_midi(data).notes == notes.notes
    assert check_lyrics(notes, data) == (0, 28)  # two syllables under each note: every note is a miss


def test_check_lyrics_counts_a_missing_or_doubled_syllable_as_a_miss():
    """A note without a lyric event, with two, or under a word with more syllables than notes is a miss."""
    notes = melodies()["twinkle"]
    tune = melody(notes)
    events = [(n.start, "la") for n in tune]
    assert check_lyrics(notes, midi_from_notes(notes, lyrics=events)) == (28, 28)
    assert check_lyrics(notes, midi_from_notes(notes, lyrics=events[1:])) == (27, 28)
    assert check_lyrics(notes, midi_from_notes(notes, lyrics=[*events, (tune[0].start, "la")])) == (27, 28)
    split = [(tune[0].start, "beau-"), (tune[1].start, "ti-"), (tune[2].start, "ful"), *events[3:]]
    assert check_lyrics(notes, midi_from_notes(notes, lyrics=split)) == (28, 28)
    squeezed = [(tune[0].start, "beau-"), (tune[1].start, "tiful"), *events[2:]]  # 3 syllables on 2 notes
    assert check_lyrics(notes, midi_from_notes(notes, lyrics=squeezed)) == (26, 28)


def test_ban_list_joins_the_shipped_file_the_users_file_and_the_job(isolated_config):
    """Shipped words, <config>/text/banned_words.txt (comments ignored) and the job's 'ban' all count."""
    user = isolated_config / "config" / "text" / "banned_words.txt"
    user.parent.mkdir(parents=True)
    user.write_text("# mine\nNeon  Lights\nsunset # too common\n")
    words = ban_list("Vibrant, ,misty")
    assert {"watermark", "neon lights", "sunset", "vibrant", "misty"} <= words
    assert "# mine" not in words and "" not in words


def test_clip_count_uses_the_real_clip_vocabulary():
    """CLIP BPE: 'a castle at dawn' is 4 tokens, without start and end."""
    pytest.importorskip("transformers")
    from muselink.plugins.text.clip import count_tokens, vocab_path

    if vocab_path() is None:
        pytest.skip("open-clip-torch is not installed")
    assert count_tokens("a castle at dawn") == 4
    assert count_tokens("a castle at dawn, dramatic lighting") == 7


def test_sampler_is_seeded_and_respects_the_allowed_mask():
    """The same seed draws the same tokens; masked tokens are never drawn; pick_or_end lumps the rest into END."""
    logits = np.random.default_rng(0).normal(size=50).astype(np.float32)
    allowed = np.zeros(50, dtype=bool)
    allowed[[3, 7, 11]] = True
    a = [Sampler(5, 1.0, 1.0).pick(logits, allowed) for _ in range(3)]
    b = [Sampler(5, 1.0, 1.0).pick(logits, allowed) for _ in range(3)]
    assert a == b and set(a) <= {3, 7, 11}
    only_end = np.zeros(50, dtype=bool)
    assert Sampler(1, 1.0, 1.0).pick_or_end(logits, only_end) == END
    greedy = Sampler(1, 0.0, 1.0)
    assert greedy.pick(logits) == int(np.argmax(logits))


def test_bad_inputs_get_errors_naming_the_parameter():
    """An empty prompt, a non-MIDI blob and an empty melody are ValueErrors that say what is wrong."""
    ctx = JobContext(job_id="t")
    expand = caps()["text.expand_prompt"]
    with pytest.raises(ValueError, match="parameter 'prompt'"):
        expand.run({}, expand.validate({"prompt": "  "}, {}), ctx)
    with pytest.raises(ValueError, match="audio/midi"):
        as_notes(BlobData("image/png", b"x"))
    with pytest.raises(ValueError, match="input 'notes' has no notes"):
        phrases(NotesData((), 480, 100.0, (4, 4)))
    with pytest.raises(ValueError, match="parameter 'kind'"):
        caps()["text.write"].validate({"kind": "novel"}, {})


def test_text_capabilities_run_in_the_text_lane():
    """All three capabilities declare the 'text' lane, which the daemon's default lanes include: one worker that
    gives way to the MIDI lane (lower priority)."""
    from muselink.core.config import DaemonConfig

    assert {c.lane for c in caps().values()} == {"text"}
    text = DaemonConfig().lanes["text"]
    assert text.workers == 1 and text.nice > DaemonConfig().lanes["interactive"].nice


def test_distinct_2_counts_unique_word_pairs():
    """distinct-2 is unique bigrams over all bigrams."""
    assert distinct_2("a b a b".split()) == 2 / 3
    assert distinct_2("a b c".split()) == 1.0

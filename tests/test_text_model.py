"""The text capabilities with the real SmolLM2-135M model (loaded once for the module), seeded, offline."""
from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime_genai")
pytest.importorskip("pyphen")
pytest.importorskip("mido")

from muselink.core.capability import JobCancelled  # noqa: E402
from muselink.core.midifile import midi_from_notes  # noqa: E402
from muselink.plugins.text import expand as ex  # noqa: E402
from muselink.plugins.text import lyrics as ly  # noqa: E402
from muselink.plugins.text import write as wr  # noqa: E402
from muselink.plugins.text.clip import CLIP_MAX_TEXT_TOKENS, count_tokens  # noqa: E402
from muselink.plugins.text.evaluate import check_lyrics, melodies  # noqa: E402
from muselink.plugins.text.model import unavailable  # noqa: E402
from muselink.plugins.text.syllables import Syllables  # noqa: E402

NOOP = (lambda: None, lambda fraction, text: None)


@pytest.fixture(scope="module")
def model():
    reason = unavailable()
    if reason:
        pytest.fail(reason)  # the text extra is part of `make test`: a missing model is a failure
    from muselink.plugins.text.model import load

    return load()


def expand(model, prompt, seed=0, ban=frozenset(), words=12):
    return ex.expand(model, prompt, seed, 0.7, 0.9, words, set(ban), *NOOP)


@pytest.mark.parametrize("name, seed", [("twinkle", 0), ("ode_to_joy", 1), ("ode_to_joy", 7)])
def test_lyrics_put_exactly_one_syllable_under_every_note(model, name, seed):
    """Every melody note gets exactly one lyric event holding one pyphen syllable; lines match the phrases."""
    notes = melodies()[name]
    lyr = ly.write(model, notes, "the sea", seed, 0.8, 0.95, 10, *NOOP)
    good, total = check_lyrics(notes, midi_from_notes(notes, lyrics=lyr.events()))
    assert good == total == len(ly.melody(notes))
    assert [len(s) for s in lyr.syllables] == [len(n) for n in lyr.notes]
    syl = Syllables()
    for words, parts in zip(lyr.lines, lyr.syllables, strict=True):
        assert [p for w in words for p in syl.split(w)] == [p.rstrip("-") for p in parts]


def test_lyrics_repeat_for_a_seed_and_follow_the_theme(model):
    """The same seed and theme give the same words; another theme gives other words."""
    notes = melodies()["twinkle"]
    a = ly.write(model, notes, "winter", 3, 0.8, 0.95, 10, *NOOP).text
    b = ly.write(model, notes, "winter", 3, 0.8, 0.95, 10, *NOOP).text
    c = ly.write(model, notes, "a summer festival", 3, 0.8, 0.95, 10, *NOOP).text
    assert a == b and a != c


def test_expansion_keeps_every_user_word_and_repeats_for_a_seed(model):
    """The result starts with the prompt verbatim, adds words, and one seed gives one result."""
    prompt = "a red fox in the snow"
    out = expand(model, prompt, seed=4)
    assert out.prompt.startswith(prompt + ",") and out.added_words
    assert count_tokens(out.prompt) <= CLIP_MAX_TEXT_TOKENS
    assert expand(model, prompt, seed=4).prompt == out.prompt
    assert expand(model, prompt, seed=5).prompt != out.prompt


def test_expansion_never_adds_a_banned_word_or_phrase(model):
    """Words the model chose for a seed are never added once banned; a banned phrase never appears."""
    prompt = "city street at night"
    first = expand(model, prompt, seed=2)
    banned = {w.lower() for w in first.added_words}
    second = expand(model, prompt, seed=2, ban=banned)
    assert second.added_words and not banned & {w.lower() for w in second.added_words}
    phrase = first.added[0].lower()
    if " " in phrase:
        assert phrase not in expand(model, prompt, seed=2, ban={phrase}).prompt.lower()[len(prompt):]


def test_expansion_stops_at_the_clip_token_limit(model):
    """A prompt close to CLIP's 75 tokens is kept whole and grows at most to the limit."""
    prompt = ", ".join(["a small wooden boat on a calm lake"] * 8)  # 8 x 8 words + commas: 71 tokens
    assert 60 < count_tokens(prompt) < CLIP_MAX_TEXT_TOKENS
    out = expand(model, prompt, seed=1, words=40)
    assert out.prompt.startswith(prompt) and count_tokens(out.prompt) <= CLIP_MAX_TEXT_TOKENS
    assert out.stop == "clip_limit"
    full = expand(model, prompt + ", " + "gold " * 10, seed=1)
    assert full.prompt == (prompt + ", " + "gold " * 10).strip() and full.stop == "clip_limit"


def test_write_gives_a_four_line_verse_and_a_one_line_title(model):
    """A verse has four non-empty lines, a title one line; max_tokens bounds the length."""
    verse = wr.write(model, "verse", "the sea", 3, 0.8, 0.95, 120, *NOOP)
    assert len(verse.text.splitlines()) == 4
    title = wr.write(model, "title", "a detective story in Venice", 1, 0.8, 0.95, 40, *NOOP)
    assert title.text and "\n" not in title.text
    short = wr.write(model, "scene", "a market in the rain", 1, 0.8, 0.95, 5, *NOOP)
    assert short.tokens == 5 and short.stop == "max_tokens"


def test_cancel_stops_within_one_token(model):
    """Once the cancel check raises, not one more token is fed to the model."""
    fed = []
    cancelled = {"now": False}

    def check():
        if cancelled["now"]:
            raise JobCancelled()

    def report(fraction, text):
        fed.append(text)
        if len(fed) == 3:
            cancelled["now"] = True

    with pytest.raises(JobCancelled):
        wr.write(model, "scene", "a forest", 1, 0.8, 0.95, 200, check, report)
    assert len(fed) == 3
    with pytest.raises(JobCancelled):
        ly.write(model, melodies()["twinkle"], "", 1, 0.8, 0.95, 10, check, report)

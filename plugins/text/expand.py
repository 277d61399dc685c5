"""``text.expand_prompt``: a short image prompt made richer, the way Fooocus does it.

The user's prompt is kept verbatim as the start of the result (so every word stays, by construction)
and the model continues it with comma-separated style and detail phrases. Each added word is checked
before it stays: letters only, not already in the prompt, not on the ban list (a word, or a phrase
the added words would complete), and the whole prompt still within CLIP's 75 text tokens, counted
with the real CLIP tokenizer. The same seed gives the same result.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from muselink.core.api import config_dir

from .clip import CLIP_MAX_TEXT_TOKENS, count_tokens
from .decode import Sampler, WordWriter
from .model import TextModel

HERE = Path(__file__).resolve().parent
DEFAULT_BAN_FILE = HERE / "banned_words.txt"
MAX_PHRASE_WORDS = 3
MIN_WORDS = 6  # the model may end the list only after this many added words
SYSTEM = ("You write prompts for an image generator: a subject followed by comma-separated keywords "
          "about style, medium, lighting, colour, composition and detail.")
ASK = "Improve this image prompt with style and detail keywords: {}"
DANGLING = {"a", "an", "the", "of", "and", "or", "with", "in", "on", "at", "to", "for", "by", "from", "its", "their"}
EXAMPLE = ("a cat on a sofa", "a cat on a sofa, soft window light, cozy interior, detailed fur, warm colors, "
           "shallow depth of field, photorealistic, high quality")


def user_ban_file() -> Path:
    return config_dir() / "text" / "banned_words.txt"


def read_ban_file(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    lines = (line.split("#", 1)[0].strip().lower() for line in path.read_text(encoding="utf-8").splitlines())
    return {" ".join(line.split()) for line in lines if line}


def ban_list(extra: str = "") -> set[str]:
    """Shipped list + ``<config>/text/banned_words.txt`` + the job's own comma-separated ``ban``."""
    words = read_ban_file(DEFAULT_BAN_FILE) | read_ban_file(user_ban_file())
    words |= {" ".join(w.split()).lower() for w in extra.split(",") if w.strip()}
    return words


def words_of(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9']+", text)


@dataclass
class Expansion:
    prompt: str
    added: list[str] = field(default_factory=list)   # the added phrases
    stop: str = ""                                   # why it stopped: model, words, clip_limit
    rejected: int = 0

    @property
    def added_words(self) -> list[str]:
        return [w for phrase in self.added for w in phrase.split()]


def expand(model: TextModel, prompt: str, seed: int, temperature: float, top_p: float, max_words: int,
           ban: set[str], check: Callable[[], None], report: Callable[[float, str], None]) -> Expansion:
    base = prompt.strip()
    if not base:
        raise ValueError("parameter 'prompt' must not be empty")
    glue = "" if base.endswith((",", ";")) else ","
    text = base + glue
    result = Expansion(prompt=base)
    if count_tokens(text + " x") > CLIP_MAX_TEXT_TOKENS:
        result.stop = "clip_limit"
        return result
    seen = {w.lower() for w in words_of(base)}
    single_bans = {b for b in ban if " " not in b}
    phrase_bans = [b for b in ban if " " in b]
    session = model.session()
    writer = WordWriter(model, session, Sampler(seed, temperature, top_p), check)
    writer.feed(model.chat(ASK.format(EXAMPLE[0]), system=SYSTEM))  # one worked example, then the real prompt
    example = model.encode(EXAMPLE[1][len(EXAMPLE[0]):])
    writer.feed(example + model.encode("<|im_end|>\n"))
    writer.sampler.used.update(t for t in example if writer.masks.start_space[t])  # the repetition penalty
    # keeps it from copying the example's words (not its commas)
    writer.feed(model.encode(f"<|im_start|>user\n{ASK.format(base)}<|im_end|>\n<|im_start|>assistant\n{text}"))
    m = writer.masks
    word_group = m.start_space
    comma_group = np.zeros_like(word_group)
    comma_group[m.comma] = True
    end_group = np.zeros_like(word_group)
    end_group[[m.newline, *m.eos, *model.encode(".")]] = True
    phrase: list[str] = []
    added = 0
    while True:
        if added >= max_words:
            result.stop = "words"
            break
        if phrase:
            open_end = phrase[-1].lower() in DANGLING and len(phrase) < MAX_PHRASE_WORDS  # "lit by the" goes on
            groups = [word_group if len(phrase) < MAX_PHRASE_WORDS else word_group & False,
                      comma_group & (not open_end),
                      end_group & (not open_end and added >= min(MIN_WORDS, max_words))]
            choice = writer.sampler.pick_group(session.logits(), groups)
            if choice == 1:
                if _trim(phrase):
                    result.added.append(" ".join(phrase))
                phrase = []
                writer.feed([m.comma])
                text += ","
            elif choice == 2:
                result.stop = "model"
                break

        def accept(word: str, phrase: list[str] = phrase, text: str = text) -> bool:
            low = word.lower()
            if not word.isalpha() or low in seen or low in single_bans:
                return False
            tail = " ".join([*phrase, low]).lower()
            if any(tail == b or tail.endswith(" " + b) for b in phrase_bans):
                return False
            return count_tokens(f"{text} {word}") <= CLIP_MAX_TEXT_TOKENS

        try:
            word = writer.word(accept)
        except RuntimeError:  # nothing fits any more (the CLIP budget is spent)
            result.stop = "clip_limit"
            break
        seen.add(word.lower())
        phrase.append(word)
        text += " " + word
        added += 1
        report(min(1.0, added / max_words), _final(base, glue, result.added, phrase))
    if _trim(phrase):
        result.added.append(" ".join(phrase))
    result.rejected = writer.rejected
    result.prompt = _final(base, glue, result.added, [])
    return result


def _trim(phrase: list[str]) -> list[str]:
    """Drop trailing function words from an added phrase ("shallow depth of" → "shallow depth")."""
    while phrase and phrase[-1].lower() in DANGLING:
        phrase.pop()
    return phrase


def _final(base: str, glue: str, added: list[str], phrase: list[str]) -> str:
    parts = added + ([" ".join(phrase)] if phrase else [])
    if not parts:
        return base
    return base + glue + " " + ", ".join(parts)

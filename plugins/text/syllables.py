"""Syllables of English words, from pyphen's hyphenation dictionary (Hunspell/LibreOffice patterns).

``split("beautiful") == ["beau", "ti", "ful"]``: these parts are what the lyrics put under the notes,
one per note, so "one syllable per note" means one pyphen part per note. Hyphenation points are not
always spoken syllable breaks (pyphen keeps "every", "away", "evening" whole), so the lyric writer only
admits words for which pyphen agrees with an independent vowel-group estimate (:meth:`singable`):
a word whose count is doubtful is never sung.
"""
from __future__ import annotations

import re
from functools import lru_cache

_VOWELS = re.compile(r"[aeiouy]+")
_SILENT_E = re.compile(r"[^aeiouyl]e$")
_ED = re.compile(r"[^aeiouytd]ed$")
_ES = re.compile(r"[^aeiouyszxhgc]es$")


class Syllables:
    def __init__(self, lang: str = "en_US"):
        import pyphen

        if lang not in pyphen.LANGUAGES:
            raise ValueError(f"parameter 'language': pyphen has no dictionary for {lang!r}")
        self.dic = pyphen.Pyphen(lang=lang, left=1, right=1)
        self.split = lru_cache(maxsize=65536)(self._split)

    def _split(self, word: str) -> tuple[str, ...]:
        if not word:
            return ()
        return tuple(p for p in self.dic.inserted(word, hyphen="\x00").split("\x00") if p)

    def count(self, word: str) -> int:
        return len(self.split(word))

    def singable(self, word: str) -> bool:
        """True for a plain alphabetic word whose pyphen count matches its vowel groups."""
        if not word.isascii() or not word.replace("'", "").isalpha():
            return False
        return self.count(word) == vowel_groups(word)


def vowel_groups(word: str) -> int:
    """A rough spoken-syllable estimate (vowel groups, silent final e/ed/es) used only as a cross-check."""
    w = word.lower().replace("'", "")
    n = len(_VOWELS.findall(w))
    if n > 1 and (_SILENT_E.search(w) or _ED.search(w) or _ES.search(w)):
        n -= 1
    return max(1, n)

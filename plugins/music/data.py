"""Corpus preparation: parse music21 corpus pieces once into compact note lists, cached.

Each piece becomes ``{"id", "style", "ts": [num, den], "key": [tonic_pc, mode], "notes": [[start, dur, pitch], ...]}``
with times in ticks at :data:`TPQ` per quarter note, the first bar starting at tick 0 (a pickup is
padded with a rest). Pieces are written to ``<cache_dir>/music/pieces-v1.jsonl.gz``. The split into
train/validation/test is by piece and fixed: a hash of the piece id (see :func:`split_of`).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
from pathlib import Path

log = logging.getLogger("muselink.music.data")

TPQ = 12  # ticks per quarter in the cache: 16ths (3) and eighth triplets (4) are exact
CACHE_NAME = "pieces-v1.jsonl.gz"
# corpus folder -> style label
SOURCES = {"bach": "chorale", "essenFolksong": "folk", "oneills1850": "folk"}
MODES = ("major", "minor")


def music_cache_dir() -> Path:
    from muselink.core.api import cache_dir

    return cache_dir() / "music"


def split_of(piece_id: str) -> str:
    """Fixed split by piece: 5 % test, 5 % validation, 90 % train, from a hash of the id."""
    bucket = int(hashlib.sha1(piece_id.encode()).hexdigest()[:8], 16) % 100
    return "test" if bucket < 5 else "validation" if bucket < 10 else "train"


def corpus_files(sources=tuple(SOURCES)) -> list[tuple[str, Path]]:
    from music21 import corpus

    out = []
    for path in sorted(corpus.getPaths()):
        parts = path.parts
        folder = parts[parts.index("corpus") + 1] if "corpus" in parts else ""
        if folder in sources:
            if folder == "bach" and not path.name.startswith("bwv"):
                continue
            out.append((folder, path))
    return out


def _key_of(score) -> tuple[int, str]:
    from music21 import key as m21key

    keys = list(score.recurse().getElementsByClass(m21key.Key))
    if keys:
        k = keys[0]
    else:
        sigs = list(score.recurse().getElementsByClass(m21key.KeySignature))
        k = sigs[0].asKey("major") if sigs else None
        analysed = score.analyze("key")
        if k is None or analysed.mode == "minor" and analysed.tonic.pitchClass == (k.tonic.pitchClass + 9) % 12:
            k = analysed
    mode = k.mode if k.mode in MODES else ("minor" if k.mode in ("dorian", "phrygian", "aeolian") else "major")
    return k.tonic.pitchClass, mode


def piece_from_score(score, piece_id: str, style: str) -> dict | None:
    """Notes of a music21 score as a cache record, or None when the piece does not fit (meter changes, no notes)."""
    from music21 import meter

    sigs = {(t.numerator, t.denominator) for t in score.recurse().getElementsByClass(meter.TimeSignature)}
    if len(sigs) != 1:
        return None
    (num, den), = sigs
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    first = parts[0].getElementsByClass("Measure")
    pad = float(first[0].paddingLeft) if len(first) else 0.0
    notes = []
    for part in parts:
        for n in part.stripTies().flatten().notes:
            dur = round(float(n.quarterLength) * TPQ)
            if dur <= 0:
                continue  # grace notes
            start = round((float(n.getOffsetInHierarchy(part)) + pad) * TPQ)
            for p in n.pitches:
                notes.append([start, dur, int(p.midi)])
    if len(notes) < 8:
        return None
    notes.sort()
    tonic, mode = _key_of(score)
    return {"id": piece_id, "style": style, "ts": [num, den], "key": [tonic, mode], "notes": notes}


def parse_file(folder: str, path: Path) -> list[dict]:
    from music21 import converter, stream

    rel = f"{folder}/{path.name}"
    try:
        parsed = converter.parse(str(path))
    except Exception as exc:  # a few corpus encodings do not parse; skip them, say so
        log.warning("skipping %s: %s", rel, exc)
        return []
    scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    out = []
    for i, score in enumerate(scores):
        number = score.metadata.number if score.metadata is not None and score.metadata.number else i
        try:
            piece = piece_from_score(score, f"{rel}#{number}" if len(scores) > 1 else rel, SOURCES[folder])
        except Exception as exc:
            log.warning("skipping %s #%s: %s", rel, number, exc)
            continue
        if piece is not None:
            out.append(piece)
    return out


def _work(item):
    return parse_file(*item)


def prepare(out: Path | None = None, sources=tuple(SOURCES), limit: int | None = None, workers: int = 1,
            progress: bool = True) -> Path:
    """Parse the corpus once into ``out`` (default: the user cache); returns the path. Skips when present."""
    out = Path(out or music_cache_dir() / CACHE_NAME)
    if out.exists():
        return out
    files = corpus_files(sources)[:limit]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    from tqdm import tqdm

    bar = tqdm(total=len(files), desc="parsing music21 corpus", unit="file", disable=not progress)
    count = 0
    with gzip.open(tmp, "wt") as fh:
        if workers > 1:
            from multiprocessing import Pool

            with Pool(workers) as pool:
                results = pool.imap(_work, files)
                for pieces in results:
                    for p in pieces:
                        fh.write(json.dumps(p) + "\n")
                    count += len(pieces)
                    bar.update(1)
        else:
            for item in files:
                for p in parse_file(*item):
                    fh.write(json.dumps(p) + "\n")
                    count += 1
                bar.update(1)
    bar.close()
    tmp.replace(out)
    log.info("cached %d pieces from %d files in %s", count, len(files), out)
    return out


def load_pieces(path: Path | None = None) -> list[dict]:
    path = Path(path or music_cache_dir() / CACHE_NAME)
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh]


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO)
    print(prepare(workers=int(sys.argv[1]) if len(sys.argv) > 1 else 1))

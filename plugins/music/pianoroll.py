"""A piano-roll picture of notes (PIL only): the input in grey, new notes in colour, bar lines."""
from __future__ import annotations

from pathlib import Path

from muselink.bridge.payloads import NotesData


def render(context: NotesData, new: NotesData, path: Path, px_per_quarter: int = 40, row: int = 9,
           title: str = "") -> Path:
    from PIL import Image, ImageDraw

    notes = [(n, False) for n in context.notes] + [(n, True) for n in new.notes]
    ppq = context.ppq
    lo = min(n.pitch for n, _ in notes) - 2
    hi = max(n.pitch for n, _ in notes) + 2
    end = max(n.start + n.duration for n, _ in notes)
    margin, top = 36, 24 if title else 6
    width = margin + int(end / ppq * px_per_quarter) + 8
    height = top + (hi - lo + 1) * row + 20
    img = Image.new("RGB", (width, height), (250, 250, 247))
    draw = ImageDraw.Draw(img)
    for p in range(lo, hi + 1):
        y = top + (hi - p) * row
        if p % 12 in (1, 3, 6, 8, 10):
            draw.rectangle([margin, y, width, y + row - 1], fill=(238, 238, 232))
        if p % 12 == 0:
            draw.text((2, y - 4), f"C{p // 12 - 1}", fill=(90, 90, 90))
    num, den = context.time_signature
    bar = ppq * 4 * num / den
    x, b = 0.0, 0
    while x <= end:
        xx = margin + int(x / ppq * px_per_quarter)
        draw.line([xx, top, xx, height - 20], fill=(180, 180, 170), width=1)
        draw.text((xx + 3, height - 16), str(b + 1), fill=(120, 120, 120))
        x, b = x + bar, b + 1
    for n, is_new in notes:
        x0 = margin + int(n.start / ppq * px_per_quarter)
        x1 = margin + int((n.start + n.duration) / ppq * px_per_quarter) - 1
        y = top + (hi - n.pitch) * row
        draw.rectangle([x0, y, max(x0 + 1, x1), y + row - 1], fill=(217, 95, 2) if is_new else (110, 110, 120),
                       outline=(60, 30, 0) if is_new else (60, 60, 70))
    if new.notes:
        xs = margin + int(min(n.start for n in new.notes) / ppq * px_per_quarter)
        draw.line([xs, top, xs, height - 20], fill=(217, 95, 2), width=2)
    if title:
        draw.text((margin, 4), title, fill=(30, 30, 30))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path

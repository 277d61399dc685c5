"""Regenerate docs/images/signature-scenario.png: Krita's window, Blender's render and Ardour's editor from one run
of the signature scenario (tests/test_signature_scenario.py), side by side, captioned with the command that
started the daemon.

The system test leaves what it saw in artifacts/scenario/: Krita's window in live mode (krita-window.png), the
Cycles render of Blender's scene with its stylized and synthesized textures (blender-render.png), the Ardour
session that recorded the MIDI answers (ardour-session/) and report.json. This opens that session in Ardour's GUI
under Xvfb (as docs/images/make_ardour_screenshot.py does), grabs the editor, and puts the three together.

    .venv/bin/python -m pytest tests/test_signature_scenario.py    # about two minutes
    .venv/bin/python docs/images/make_scenario_picture.py          # about a minute (Ardour's GUI)
"""
from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

import mido
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUN = ROOT / "artifacts" / "scenario"
OUT = HERE / "signature-scenario.png"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
HEIGHT = 440  # each panel's height in the picture
SAMPLE_RATE = 48000


def font(path: str, size: int):
    try:
        return ImageFont.truetype(path, size)
    except OSError:
        return ImageFont.load_default()


def ardour_editor(run: Path) -> Image.Image:
    """Ardour's editor on the session the run recorded, zoomed to the whole take."""
    sys.path.insert(0, str(HERE))
    from make_ardour_screenshot import dress_for_the_gui, screenshot

    takes = sorted((run / "ardour-session").glob("interchange/*/midifiles/*.mid"))
    if not takes:
        raise SystemExit(f"no recorded take in {run / 'ardour-session'}; run tests/test_signature_scenario.py first")
    take = mido.MidiFile(takes[-1])
    pitches = [m.note for m in take if m.type == "note_on" and m.velocity > 0]
    with tempfile.TemporaryDirectory(prefix="muselink-scenario-shot-") as tmp:
        work = Path(tmp)
        session = work / "session"
        shutil.copytree(run / "ardour-session", session)
        zoom = max(64, math.ceil(take.length * SAMPLE_RATE / 1400))  # samples per pixel: the take fits the screen
        dress_for_the_gui(work, session, snapshot="take", track="answer", notes=(min(pitches) - 2, max(pitches) + 2),
                          zoom=zoom, height=420)
        return screenshot(work, session, snapshot="take")


def panel(image: Image.Image, title: str) -> Image.Image:
    scaled = image.convert("RGB").resize((round(image.width * HEIGHT / image.height), HEIGHT), Image.LANCZOS)
    out = Image.new("RGB", (scaled.width, HEIGHT + 40), (32, 32, 36))
    out.paste(scaled, (0, 40))
    ImageDraw.Draw(out).text((12, 9), title, fill=(235, 235, 235), font=font(FONT, 20))
    return out


def command_line(report: dict) -> str:
    """The command that started the daemon in that run (``python -m muselink.core.cli`` is ``muselink``)."""
    argv = report["daemon_command"]
    i = argv.index("muselink.core.cli") if "muselink.core.cli" in argv else 0
    return "$ muselink " + " ".join(argv[i + 1:])


def main() -> None:
    report = json.loads((RUN / "report.json").read_text())
    panels = [panel(Image.open(RUN / "krita-window.png"), "Krita: live mode follows each stroke"),
              panel(Image.open(RUN / "blender-render.png"), "Blender: stylized + synthesized textures"),
              panel(ardour_editor(RUN), "Ardour: the MIDI answers, recorded")]
    gap, caption = 12, 64
    width = sum(p.width for p in panels) + gap * (len(panels) + 1)
    picture = Image.new("RGB", (width, HEIGHT + 40 + 2 * gap + caption), (20, 20, 24))
    x = gap
    for p in panels:
        picture.paste(p, (x, gap))
        x += p.width + gap
    draw = ImageDraw.Draw(picture)
    y = HEIGHT + 40 + 2 * gap
    draw.text((gap + 4, y), command_line(report), fill=(140, 230, 140), font=font(MONO, 22))
    r = report
    figures = (f"one daemon, all at once: {r['strokes']} strokes, {r['live_updates']} live updates in Krita; a second "
               f"Krita; Blender's synthesis cancelled at {r['blender']['cancel_fraction']:.0%}; {sum(r['phrases'].values())} "
               f"phrases answered — MIDI p99 {r['idle_p99_ms']:.0f} ms idle, {r['busy_p99_ms']:.0f} ms busy")
    draw.text((gap + 4, y + 32), figures, fill=(200, 200, 200), font=font(FONT, 17))
    picture.save(OUT, optimize=True)
    print(f"{OUT} ({picture.width}x{picture.height})")


if __name__ == "__main__":
    main()

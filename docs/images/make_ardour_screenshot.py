"""Regenerate docs/images/ardour-action.png: Ardour's editor with a MIDI region and the region
"muselink: continue" added after it.

The session is made the way tests/test_ardour_action.py makes it: headless Ardour 7 (ardour7-lua) runs
the *installed* muselink_continue.lua on a seed region against a real daemon (here with 4 bars and seed 7).
Ardour's GUI then opens that session under Xvfb (dummy audio backend, master bus hidden, the track tall
enough to show its notes) and the screen is grabbed. Needs ardour, ardour7-lua, Xvfb; about a minute.

    .venv/bin/python docs/images/make_ardour_screenshot.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image, ImageChops, ImageGrab

HERE = Path(__file__).resolve().parent
DRIVER = HERE.parents[1] / "tests" / "ardour_action_session.lua"
sys.path.insert(0, str(HERE.parents[1] / "tests"))
from xserver import start_xvfb, stop_process  # noqa: E402
OUT = HERE / "ardour-action.png"

ENGINE = """<?xml version="1.0" encoding="UTF-8"?>
<Ardour>
  <Config>
    <Option name="try-autostart-engine" value="1"/>
    <Option name="hide-dummy-backend" value="0"/>
  </Config>
  <Extra>
    <AudioMIDISetup>
      <EngineStates>
        <State backend="None (Dummy)" driver="" device="Silence" input-device="" output-device="" sample-rate="48000"
               buffer-size="1024" n-periods="0" input-latency="0" output-latency="0" input-channels="0"
               output-channels="0" lm-input="" lm-output="" active="1" use-buffered-io="0"
               midi-option="1 in, 1 out, Silence" lru="{now}"><MIDIDevices/></State>
      </EngineStates>
    </AudioMIDISetup>
  </Extra>
</Ardour>
"""
EDITOR = """<?xml version="1.0" encoding="UTF-8"?>
<instant>
  <LastUsedSnapshot name="{snapshot}"/>
  <Editor zoom="{zoom}" left-frame="0" y-origin="0" zoom-focus="ZoomFocusLeft" playhead="0"
          show-editor-mixer="0" show-editor-list="0"/>
</instant>
"""


def make_session(work: Path) -> Path:
    """Install the actions, run 'muselink: continue' headless on the test's seed region; returns the session."""
    from muselink.core.demo import free_endpoint, start_daemon, stop_daemon

    env = {**os.environ, "XDG_CONFIG_HOME": str(work / "config"), "TMPDIR": str(work)}
    subprocess.run([sys.executable, "-m", "muselink.core.cli", "install", "ardour"], env=env, check=True,
                   capture_output=True)
    endpoint = free_endpoint()
    daemon = start_daemon(endpoint, env={"MUSELINK_CONFIG_DIR": str(work / "muselink")})
    try:
        script = work / "config" / "ardour7" / "scripts" / "muselink_continue.lua"
        run = subprocess.run(["stdbuf", "-oL", "ardour7-lua", str(DRIVER), str(work / "session"), str(script), "midi",
                              "bars=4,seed=7"], env={**env, "MUSELINK_ENDPOINT": endpoint}, cwd=work,
                             capture_output=True, text=True, timeout=180)
    finally:
        stop_daemon(daemon)
    if "REGIONS 2" not in run.stdout:
        raise SystemExit(f"the action did not add its region:\n{run.stdout}\n{run.stderr}")
    return work / "session"


def dress_for_the_gui(work: Path, session: Path, snapshot: str = "clip", track: str = "melody",
                      notes: tuple[int, int] = (59, 81), zoom: int = 960, height: int = 384) -> None:
    """What a user's own Ardour would remember: the dummy engine, the zoom (samples per pixel), a tall track
    showing ``notes``, no master strip."""
    config = work / "config" / "ardour7"
    config.mkdir(parents=True, exist_ok=True)
    (config / ".a7").touch()  # not a first start: no new-user wizard
    (config / "config").write_text(ENGINE.format(now=int(time.time())))
    (session / "instant.xml").write_text(EDITOR.format(snapshot=snapshot, zoom=zoom))
    tree = ET.parse(session / f"{snapshot}.ardour")
    root = tree.getroot()
    for route in root.iter("Route"):
        info = route.find("PresentationInfo")
        if route.get("name") == "Master":
            info.set("flags", info.get("flags") + ",Hidden")
        elif route.get("name") == track:
            track_id = route.get("id")
    extra = root.find("Extra") if root.find("Extra") is not None else ET.SubElement(root, "Extra")
    state = ET.SubElement(ET.SubElement(extra, "UI"), "GUIObjectState")
    ET.SubElement(state, "Object", {"id": f"rtav {track_id}", "height": str(height), "note-range-min": str(notes[0]),
                                    "note-range-max": str(notes[1])})
    tree.write(session / f"{snapshot}.ardour", encoding="UTF-8", xml_declaration=True)


def screenshot(work: Path, session: Path, snapshot: str = "clip") -> Image.Image:
    """Open the session in Ardour under a private Xvfb; grab the screen once the editor stops changing."""
    xvfb, display = start_xvfb(work / "xvfb.log", screen="1600x900x24")
    env = {**os.environ, "DISPLAY": display, "XDG_CONFIG_HOME": str(work / "config")}
    with open(work / "ardour-gui.log", "w") as log:
        ardour = subprocess.Popen(["ardour", "-n", "-a", str(session / f"{snapshot}.ardour")], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        last, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(3)
            shot = ImageGrab.grab(xdisplay=display).convert("RGB")
            box = shot.convert("L").point(lambda v: 255 if v > 8 else 0).getbbox()
            if box and box[2] - box[0] > 1000 and last is not None and not ImageChops.difference(shot, last).getbbox():
                return shot.crop(box)
            if ardour.poll() is not None:
                raise SystemExit(f"Ardour exited ({ardour.returncode}); see {work / 'ardour-gui.log'}")
            last = shot
        raise SystemExit("Ardour's editor did not settle within 120 s")
    finally:
        stop_process(ardour)
        stop_process(xvfb)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="muselink-ardour-shot-") as tmp:
        work = Path(tmp)
        session = make_session(work)
        dress_for_the_gui(work, session)
        image = screenshot(work, session)
    image.save(OUT, optimize=True)
    print(f"{OUT} ({image.width}x{image.height})")


if __name__ == "__main__":
    main()

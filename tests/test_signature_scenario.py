"""The signature scenario, as a system test: one `muselink serve` for Krita, Blender and a DAW at the same time.

One daemon (started as from its own terminal) serves, all at once: real Krita (GUI, Xvfb) in live mode while a
stroke is painted every second, a second Krita (its own profile) applying style.fast to a selection, real
Blender (headless) stylizing a material's texture and synthesizing a texture in the heavy lane (one synthesis
cancelled half-way from Blender), and JACK + `muselink midi bridge` + Ardour recording the answers to a phrase
played every few seconds. The MIDI answers' latency is measured idle first (every host started, none working),
then during the run. See docs/scenario.md; `docs/images/make_scenario_picture.py` turns what this test leaves in
artifacts/scenario/ into the README's picture.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from conftest import require_host
from jack_support import (ARDOUR_SCRIPT, ardour_env, assert_recorded_answers, jack_server, lines, realtime_allowed, recorded_onsets,
                          stop, wait_for)
from krita_support import KritaRun, install_profile
from muselink.bridge.client import Client
from muselink.bridge.payloads import ImageData
from muselink.core.demo import free_endpoint, start_daemon, stop_daemon
from scenario_support import BridgeEvents, CpuMeter, Timeline, bridge_wire, check_wires, exchange, percentile, tree_rss, write_json

pytestmark = pytest.mark.host
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "scenario"
SCENE = Path(__file__).resolve().parent / "blender_scenario_scene.py"
BPM, GRID_S = 120.0, 60.0 / 120.0 / 4
PHRASES = [  # (pitch, on s, off s)
    [(60, 0.0, 0.22), (64, 0.25, 0.47), (67, 0.5, 0.72), (72, 0.75, 0.97)],
    [(62, 0.0, 0.22), (65, 0.25, 0.47), (69, 0.5, 0.72), (67, 0.75, 0.97)],
    [(64, 0.0, 0.47), (62, 0.5, 0.72), (60, 0.75, 0.97)],
]
IDLE_PHRASES, BUSY_PHRASES_MIN, BUSY_LIMIT_S = 5, 6, 100
SELECTION = (80, 60, 160, 120)


@pytest.fixture
def jack(tmp_path, monkeypatch):
    """A private JACK server (dummy driver, real-time where allowed) for the bridge, the test's ports and Ardour."""
    yield from jack_server(tmp_path, monkeypatch, realtime=True)


def warm_up(endpoint: str, brick: np.ndarray) -> dict:
    """Load every model the run uses, at the sizes it uses, in the daemon's workers (the lanes in parallel)."""
    from muselink.bridge.payloads import Note, NotesData

    photo = ImageData.from_numpy(np.ascontiguousarray(np.tile(brick[:120, :160, None], (1, 1, 3))))

    def run(capability, payloads, *param_sets):
        with Client(endpoint, name=f"warm-{capability}", timeout=120) as client:
            start = time.monotonic()
            for params in param_sets:
                client.run(capability, payloads, params, timeout=120)
            return capability, round(time.monotonic() - start, 2)

    notes = NotesData((Note(0, 480, 60), Note(480, 480, 64), Note(960, 480, 67)))
    exemplar = ImageData.from_numpy(np.ascontiguousarray(np.tile(brick[:128, :128, None], (1, 1, 4))))
    synth = {"width": 64, "height": 64, "exemplar_size": 64, "scales": 1, "tiling": "both", "iterations": 4}
    with ThreadPoolExecutor(3) as pool:
        jobs = [pool.submit(run, "style.fast", {"image": photo}, {"style": "pastel", "size": 128}, {"style": "mosaic", "size": 256}),
                pool.submit(run, "music.continue", {"notes": notes}, {"bars": 1, "seed": 1}, {"bars": 1, "seed": 2}),
                pool.submit(run, "texture.synthesize", {"image": exemplar}, {**synth, "preview_every": 2}, synth)]
        return dict(f.result() for f in jobs)


def replay_live(endpoint: str, source: np.ndarray, selection: np.ndarray, params: dict) -> np.ndarray:
    """style.fast on the final canvas, region and mask as Krita's live mode sends them (RGBA result of the region)."""
    x, y, w, h = SELECTION
    rgba = np.ascontiguousarray(source[y:y + h, x:x + w][..., [2, 1, 0, 3]])
    mask = np.ascontiguousarray(selection[y:y + h, x:x + w, None])
    with Client(endpoint, name="replay", timeout=60) as client:
        result = client.run("style.fast", {"image": ImageData.from_numpy(rgba), "mask": ImageData.from_numpy(mask)}, params)
    return result.payloads["image"].to_numpy()


@pytest.mark.timeout(420)
def test_krita_blender_and_a_daw_share_one_daemon_at_once(jack, tmp_path, xvfb):
    """Two Kritas (live painting; style on a selection), Blender (stylize + heavy synthesis, one cancelled) and the
    MIDI bridge recorded by Ardour, on one daemon at once: each host gets its own results in place, nothing crosses
    between hosts, Blender's cancel touches no other host's job, the MIDI answers' p99 stays within 1.5x of idle
    and the daemon's memory (broker + workers) within 10 % of what it was after warm-up."""
    require_host("krita", "blender", "Xvfb", "jackd", "ardour7-lua")
    from skimage import data

    clock, procs = Timeline(), jack
    endpoint, go, stop_file = free_endpoint(), tmp_path / "go", tmp_path / "stop"
    brick = data.brick()
    texture = tmp_path / "brick.png"
    from PIL import Image

    Image.fromarray(brick).convert("RGB").resize((128, 128)).save(texture)
    homes = {name: tmp_path / name for name in ("krita-live", "krita-apply")}
    blender_res, blender_out = tmp_path / "blender-user", tmp_path / "blender-out"
    blender_out.mkdir()
    blender_install = [sys.executable, "-m", "muselink.core.cli", "install", "blender", "--blender", shutil.which("blender"),
                       "--user-resources", str(blender_res)]
    kritas: dict[str, KritaRun] = {}
    blender = daemon = None
    try:
        # ---- start: the daemon, the add-ons' installs, then the hosts (in parallel) --------------------------
        with ThreadPoolExecutor(4) as pool:
            started = pool.submit(start_daemon, endpoint, [], env={"MUSELINK_CONFIG_DIR": str(tmp_path / "config")},
                                  new_session=True)
            installs = [pool.submit(install_profile, home) for home in homes.values()]
            blender_installed = pool.submit(subprocess.run, blender_install, capture_output=True, text=True, timeout=180)
            for done in installs:
                done.result()
            clock.mark("krita installed")
            kritas["krita-live"] = KritaRun(homes["krita-live"], endpoint, xvfb, {
                "scenario": "live_paint", "capability": "style.fast", "params": {"style": "pastel", "size": 128},
                "selection": list(SELECTION), "go": str(go), "stop": str(stop_file), "stroke_every": 1.0})
            kritas["krita-apply"] = KritaRun(homes["krita-apply"], endpoint, xvfb, {
                "scenario": "apply", "capability": "style.fast", "params": {"style": "mosaic", "size": 256},
                "selection": list(SELECTION), "go": str(go)})
            daemon = started.result()
            clock.mark("daemon up")
            assert blender_installed.result().returncode == 0, blender_installed.result().stderr
        blender_log = open(tmp_path / "blender.log", "w")
        blender = subprocess.Popen(["blender", "-b", "--python-exit-code", "1", "--python", str(SCENE), "--", endpoint,
                                    str(texture), str(blender_out), str(go), str(ARTIFACTS / "blender-render.png")],
                                   env={**os.environ, "BLENDER_USER_RESOURCES": str(blender_res)},
                                   stdout=blender_log, stderr=subprocess.STDOUT, start_new_session=True)
        bridge = procs.start([sys.executable, "-m", "muselink.core.cli", "--log-level", "warning", "midi", "bridge",
                              "--endpoint", endpoint, "--api", "jack", "--bpm", str(BPM), "--pause-beats", "1",
                              "--grid", "1/16", "--bars", "1", "--seed", "7", "--json", "--duration", "300"],
                             stdout=subprocess.PIPE, stderr=open(tmp_path / "bridge.err", "w"), text=True)
        bridge_lines: queue.Queue = queue.Queue()
        lines(bridge, bridge_lines)
        events = BridgeEvents(bridge_lines)
        warmed = warm_up(endpoint, brick)
        clock.mark("daemon warmed up")
        events.next(("ready",), 60)
        heard: list = []
        procs.open_input("muselink-out:muselink out",
                         callback=lambda m: heard.append((time.perf_counter(), m)) if m.type != "clock" else None)
        player = procs.open_output("muselink-in:muselink in")
        (tmp_path / "record.lua").write_text(ARDOUR_SCRIPT)
        ardour_stop, session = tmp_path / "ardour-stop", tmp_path / "session"
        ardour = procs.start(["ardour7-lua", str(tmp_path / "record.lua"), str(session), "muselink-out:muselink out",
                              str(ardour_stop), "400"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             cwd=tmp_path, env=ardour_env(tmp_path))
        ardour_out: queue.Queue = queue.Queue()
        lines(ardour, ardour_out)
        ardour_log: list = []
        assert wait_for(ardour_out, lambda line: line.startswith("READY"), 60, "Ardour recording", ardour_log,
                        fail=lambda line: line.startswith("Error")) == "READY true true"
        for name, krita in kritas.items():
            assert krita.wait_for("ready", 180), f"{name} did not get ready; log:\n{krita.tail()}"
        deadline = time.monotonic() + 60
        while not (blender_out / "ready").exists():
            assert blender.poll() is None and time.monotonic() < deadline, (tmp_path / "blender.log").read_text()[-3000:]
            time.sleep(0.1)
        clock.mark("every host ready")
        rss_warm = tree_rss(daemon.pid)
        cpu = CpuMeter()
        for name, proc in {"daemon": daemon, **{k: v.proc for k, v in kritas.items()}, "blender": blender,
                           "bridge": bridge, "ardour": ardour, "jackd": procs.procs[0]}.items():
            cpu.watch(name, proc.pid)
        cpu.phase("until ready")

        # ---- idle: every host up, none working; then the run: everyone at once ------------------------------
        idle = [exchange(player, PHRASES[i % 3], events, heard) for i in range(IDLE_PHRASES)]
        clock.mark("idle MIDI measured")
        cpu.phase("idle")
        go.touch()
        go_at, busy = time.time(), []
        while len(busy) < BUSY_PHRASES_MIN or blender.poll() is None or not (kritas["krita-apply"].out / "report.json").exists():
            busy.append(exchange(player, PHRASES[len(busy) % 3], events, heard))
            assert time.monotonic() - clock.t0 - clock.marks["idle MIDI measured"] < BUSY_LIMIT_S, "the run took too long"
        stop_file.touch()
        clock.mark("run over")
        reports = {name: krita.report(120) for name, krita in kritas.items()}
        assert blender.wait(120) == 0, (tmp_path / "blender.log").read_text()[-4000:]
        b = json.loads((blender_out / "result.json").read_text())
        cpu.phase("run", ended={"blender": b["cpu_s"]})
        ardour_stop.touch()
        wait_for(ardour_out, lambda line: line == "SAVED", 30, "Ardour to save", ardour_log)
        ardour.wait(30)  # its MIDI sources are complete once it has closed the session
        stop(bridge, signal.SIGINT)
        events.next(("summary",), 10)
        clock.mark("hosts done")
        rss_after = tree_rss(daemon.pid)
        finished = {name: krita.finish() for name, krita in kritas.items()}

        # ---- Krita, live: one '(live)' layer that followed every stroke and shows the last canvas ------------
        live, home = reports["krita-live"], kritas["krita-live"]
        assert "error" not in live, live["error"] + home.tail()
        w, h = live["size"]
        assert live["live_layers"] == ["Background", "style.fast (live)", "Selection Mask"]
        strokes = live["strokes"]
        assert len(strokes) >= 5, strokes
        first, final = home.raw("live_first.bgra", (h, w, 4)), home.raw("live_final.bgra", (h, w, 4))
        for stroke in strokes:
            x, y, sw, sh = stroke["box"]
            moved = np.any(first[y:y + sh, x:x + sw] != final[y:y + sh, x:x + sw], axis=2).mean()
            assert moved > 0.5, f"the live layer did not follow stroke {stroke}: {moved:.0%} changed"
        updates_during_strokes = strokes[-1]["applied_seq"] - strokes[0]["applied_seq"]
        assert updates_during_strokes >= len(strokes) // 2, (updates_during_strokes, strokes)
        sel = home.raw("selection.raw", (h, w))
        replay = replay_live(endpoint, home.raw("source_final.bgra", (h, w, 4)), sel, live["wire"]["live_params"])
        x, y, rw, rh = SELECTION
        inside = sel[y:y + rh, x:x + rw] == 255
        diff = np.abs(final[y:y + rh, x:x + rw][..., [2, 1, 0]].astype(int) - replay[..., :3].astype(int))[inside]
        assert diff.max() <= 2, f"the live layer is not style.fast of the last canvas (max diff {diff.max()})"
        assert np.all(final[sel == 0][:, 3] == 0)

        # ---- Krita, second instance: a new layer from its selection ----------------------------------------
        second, home = reports["krita-apply"], kritas["krita-apply"]
        assert "error" not in second, second["error"] + home.tail()
        assert second["layers_after"] == ["Background", "style.fast", "Selection Mask"]
        assert second["panel_final"]["message"] == "done: new layer 'style.fast'"
        sel, before = home.raw("selection.raw", (h, w)), home.raw("source_before.bgra", (h, w, 4))
        layer = home.raw("result.bgra", (h, w, 4))
        assert np.all(layer[sel == 0][:, 3] == 0) and np.all(layer[sel == 255][:, 3] == 255)
        assert np.any(layer[sel == 255][:, :3] != before[sel == 255][:, :3], axis=1).mean() > 0.5
        assert finished == {"krita-live": 0, "krita-apply": 0}, "each Krita must close cleanly"

        # ---- Blender: the stylized image in Wall, the synthesized one in Stone, the cancelled one nowhere -----
        t = b["texture"]
        assert t["base_color_image"] == t["image"] == "brick.style.fast" and b["wall_after"] == t["image"], b
        assert t["packed"] and t["capability"] == "style.fast" and t["styles"] == {"mosaic": 1.0} and t["changed"] > 0.05
        c = b["cancelled"]
        assert c["state"] == "cancelled" and "cancelled by client" in c["message"], c
        assert 0.5 <= c["fraction"] < 0.95 and c["ball_image"] == "brick.png" and c["leftovers"] == [], c
        s = b["synthesized"]
        assert s["image"] == "brick.texture.synthesize" and s["packed"] and s["size"] == [64, 64], s
        assert s["capability"] == "texture.synthesize" and s["tiling"] == "both" and s["job"] != c["job"]

        # ---- the DAW: Ardour's take holds exactly the answers, each as the bridge played it ------------------
        take, onsets = recorded_onsets(session)
        answers = idle + busy
        assert_recorded_answers(onsets, answers, [t for t, m in heard if m.type == "note_on"], GRID_S)

        # ---- nothing crossed between hosts; Blender's cancel ended only its own job ------------------------
        wires = {name: report["wire"] for name, report in reports.items()}
        wires["blender"] = b["wire"]
        wires["midi"] = bridge_wire(events.all, time.time() - time.perf_counter())
        crossing = check_wires(wires, c["cancel_at"], c["job"], continuing=("krita-live", "midi"))

        # ---- MIDI latency under load, and the daemon's memory --------------------------------------------
        figures = {
            "idle_p99_ms": round(percentile([a["turnaround_s"] for a in idle], 99) * 1000, 1),
            "busy_p99_ms": round(percentile([a["turnaround_s"] for a in busy], 99) * 1000, 1),
            "idle_ms": [round(a["turnaround_s"] * 1000, 1) for a in idle],
            "busy_ms": [round(a["turnaround_s"] * 1000, 1) for a in busy],
            "heard_idle_p99_ms": round(percentile([a["heard_s"] for a in idle], 99) * 1000, 1),
            "heard_busy_p99_ms": round(percentile([a["heard_s"] for a in busy], 99) * 1000, 1),
            "rss_warm": rss_warm, "rss_after": rss_after,
            "rss_change": round(rss_after["total_mib"] / rss_warm["total_mib"] - 1, 4),
            "cpu_s": {k: v for k, v in cpu.phases.items() if k != "until ready"},
            "model_ms": {"idle": [round(a["model_s"] * 1000, 1) for a in idle], "busy": [round(a["model_s"] * 1000, 1) for a in busy]},
            "jack_realtime": realtime_allowed(),
            "daemon_command": Path(f"/proc/{daemon.pid}/cmdline").read_text().split("\0")[:-1],
            "timeline_s": clock.marks, "warm_up_s": warmed, "strokes": len(strokes), "live_updates": live["live_applied_seq"],
            "blender": {"cancel_fraction": c["fraction"], "render_s": b.get("render_seconds")},
            "wires": crossing, "phrases": {"idle": len(idle), "busy": len(busy)}, "go_at": go_at,
        }
        clock.mark("checked")
        figures["duration_s"] = clock.marks["checked"]
        print("\nsignature scenario:", json.dumps(figures))
        write_json(ARTIFACTS / "report.json", figures)
        shutil.copytree(session, ARTIFACTS / "ardour-session", dirs_exist_ok=True)
        if Path(live.get("screenshot") or "").exists():
            shutil.copy(live["screenshot"], ARTIFACTS / "krita-window.png")
        assert figures["busy_p99_ms"] <= 1.5 * figures["idle_p99_ms"], figures
        assert abs(figures["rss_change"]) <= 0.10, figures
    finally:
        for krita in kritas.values():
            krita.kill()
        if blender is not None and blender.poll() is None:
            blender.kill()
            blender.wait(10)
        if daemon is not None:
            stop_daemon(daemon)

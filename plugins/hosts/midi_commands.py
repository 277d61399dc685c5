"""``muselink midi bridge|continue|infill|clip|lyrics|watch|ports``: the DAW bridge's command line.

Added by the ``hosts`` plugin (``muselink_add_commands``); cheap to import: mido, rtmidi, the MIDI
add-on (``muselink.host_addons.midi``) and the bridge client load inside the handlers.
"""
from __future__ import annotations

import argparse
import json
import sys

from muselink.core.api import default_endpoint


class _Fail(Exception):
    pass


def _sampling(p: argparse.ArgumentParser, bars: bool = True) -> None:
    if bars:
        p.add_argument("--bars", type=int, default=2, help="bars of music to answer with (default 2)")
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature (model default if unset)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling threshold")
    p.add_argument("--seed", type=int, default=None, help="random seed, for repeatable answers")


def _params(args) -> dict:
    params = {"bars": args.bars} if getattr(args, "bars", None) is not None else {}
    for key in ("temperature", "top_p", "seed"):
        if getattr(args, key, None) is not None:
            params[key] = getattr(args, key)
    return params


def _endpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", default=default_endpoint(), help="daemon address (env MUSELINK_ENDPOINT)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the daemon to answer")


def _client(args, name: str):
    from muselink.bridge.client import Client

    return Client(args.endpoint, name=name, timeout=args.timeout)


def _optional_int(text: str):
    return None if text.lower() in ("off", "none", "") else int(text)


def cmd_bridge(args) -> int:
    import queue
    import signal
    import threading
    import time

    from muselink.bridge.client import Client

    from muselink.host_addons.midi.controller import BridgeSettings, CallResponse
    from muselink.host_addons.midi.host import ports
    from muselink.host_addons.midi.timing import Grid

    try:
        settings = BridgeSettings(bpm=args.bpm, pause_beats=args.pause_beats, grid=Grid.parse(args.grid),
                                  trigger_cc=_optional_int(args.trigger_cc), channel=args.channel,
                                  align=args.align, params=_params(args), retry_for=args.retry_for,
                                  time_signature=tuple(int(v) for v in args.meter.split("/")))
    except ValueError as exc:
        raise _Fail(str(exc)) from None

    def report(event: str, **fields) -> None:
        if args.json:
            print(json.dumps({"event": event, "t": round(time.perf_counter(), 6), **fields}, default=str), flush=True)
        else:
            detail = fields.pop("message", "")
            fields.pop("notes", None)
            extra = " ".join(f"{k}={v}" for k, v in fields.items())
            print(f"muselink midi: {event} {extra} {detail}".rstrip(), file=sys.stderr, flush=True)

    inbox: queue.Queue = queue.Queue()
    try:
        api, inport, outport = ports.open_ports(args.api, inbox, args.in_name, args.out_name,
                                                args.connect_in, args.connect_out)
    except ports.MidiUnavailable as exc:
        raise _Fail(str(exc)) from None
    client = Client(args.endpoint, name="midi-bridge", timeout=0.05)  # never block the music on the socket
    try:
        status = None
        try:
            status = client.hello(timeout=args.timeout)
            cap = status.capability(settings.capability)
            if cap is None:
                report("warning", message=f"the daemon at {args.endpoint} has no {settings.capability} capability "
                                          "(is the music plugin installed?)")
            elif not cap.available:
                report("warning", message=f"{settings.capability} is unavailable: {cap.unavailable_reason}")
        except ConnectionError as exc:
            report("daemon_down", message=f"{exc} — ports stay open; phrases are sent once it is up")
        engine = CallResponse(client, settings, outport.send, report=report)
        if status is not None:  # the session checks parameters against the schema before sending
            engine.session.set_status(status)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        if args.duration:
            timer = threading.Timer(args.duration, stop.set)
            timer.daemon = True
            timer.start()
        report("ready", api=api, inport=inport.name, outport=outport.name, bpm=settings.bpm,
               grid=str(settings.grid), pause_beats=settings.pause_beats, trigger_cc=settings.trigger_cc)
        ports.run(engine, inbox, outport, stop)
        if engine.latencies:
            lat = sorted(engine.latencies)
            report("latency", answers=len(lat), p50_ms=round(_pct(lat, 50) * 1000, 1),
                   p99_ms=round(_pct(lat, 99) * 1000, 1))
        # replies for jobs this bridge did not send (none, unless the daemon mixed up its clients)
        report("summary", answers=len(engine.answers), stray_replies=client.stray_replies,
               protocol_errors=client.protocol_errors)
    finally:
        ports.close(inport, outport)
        client.close()
    return 0


def _pct(values: list, q: float) -> float:
    k = (len(values) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def _file_job(args, fn) -> int:
    from muselink.bridge.client import JobFailed

    with _client(args, "midi-files") as client:
        try:
            client.hello()
            notes = fn(client)
        except (ValueError, JobFailed) as exc:
            raise _Fail(str(exc)) from None
    print(f"{args.output}  ({len(notes.notes)} notes)")
    return 0


def cmd_continue(args) -> int:
    from .midi_files import continue_file

    return _file_job(args, lambda c: continue_file(c, args.input, args.output, _params(args), args.answer_only,
                                                   args.job_timeout))


def cmd_infill(args) -> int:
    from .midi_files import infill_file

    return _file_job(args, lambda c: infill_file(c, args.input, args.output, args.from_bar, args.to_bar,
                                                 _params(args), args.job_timeout))


def cmd_clip(args) -> int:
    """JSON request in, JSON answer out (see :mod:`.midi_clip`); all of it within ``--deadline`` seconds, because
    the DAW waits for this process (Ardour's Lua blocks its GUI on it)."""
    import os
    import threading
    import time
    from pathlib import Path

    from muselink.bridge.client import DaemonUnavailable, JobFailed

    from .midi_clip import answer_text, parse_request, run_clip

    def give_up() -> None:
        print(f"muselink midi: error: no answer within {args.deadline:g} s; is the daemon busy? "
              "(muselink status)", file=sys.stderr, flush=True)
        os._exit(124)

    started = time.monotonic()
    watchdog = threading.Timer(args.deadline, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        req = parse_request(json.loads(Path(args.request).read_text()))
    except FileNotFoundError:
        raise _Fail(f"request file not found: {args.request}") from None
    except json.JSONDecodeError as exc:
        raise _Fail(f"{args.request} is not valid JSON: {exc}") from None
    except ValueError as exc:
        raise _Fail(str(exc)) from None
    with _client(args, "midi-clip") as client:
        try:
            client.hello(timeout=args.timeout)  # the watchdog ends it at --deadline in any case
            ans = run_clip(client, req, timeout=max(1.0, args.deadline - (time.monotonic() - started) - 0.5))
        except (DaemonUnavailable, JobFailed, ValueError) as exc:
            raise _Fail(str(exc)) from None
    out = Path(args.output)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(answer_text(ans))
    tmp.replace(out)
    watchdog.cancel()
    print(f"{args.output}  ({ans['name']}, {len(ans['notes'])} notes)")
    return 0


def cmd_lyrics(args) -> int:
    from muselink.bridge.client import JobFailed

    from .midi_files import lyrics_file

    params = {k: v for k, v in (("theme", args.theme), ("max_line", args.max_line), ("seed", args.seed),
                                ("temperature", args.temperature)) if v is not None}
    with _client(args, "midi-files") as client:
        try:
            client.hello()
            text = lyrics_file(client, args.input, args.output, params, args.job_timeout)
        except (ValueError, JobFailed) as exc:
            raise _Fail(str(exc)) from None
    print(text)
    print(args.output, file=sys.stderr)
    return 0


def cmd_watch(args) -> int:
    from muselink.bridge.client import DaemonUnavailable

    from .midi_files import watch

    with _client(args, "midi-watch") as client:
        try:
            client.hello()
        except DaemonUnavailable as exc:
            raise _Fail(str(exc)) from None
        print(f"watching {args.folder} for .mid files (Ctrl-C to stop)", file=sys.stderr, flush=True)
        try:
            n = watch(client, args.folder, _params(args), once=args.once, answer_only=not args.full,
                      report=lambda line: print(line, flush=True), job_timeout=args.job_timeout)
        except ValueError as exc:
            raise _Fail(str(exc)) from None
    print(f"{n} answer(s) written", file=sys.stderr)
    return 0


def cmd_ports(args) -> int:
    from muselink.host_addons.midi.host import ports

    try:
        found = ports.list_ports(args.api)
    except ports.MidiUnavailable as exc:
        raise _Fail(str(exc)) from None
    print(f"MIDI API: {found['api']}")
    for kind in ("inputs", "outputs"):
        print(f"{kind}:")
        for name in found[kind]:
            print(f"  {name}")
    return 0


def _guard(fn):
    def run(args) -> int:
        try:
            return fn(args)
        except _Fail as exc:
            print(f"muselink midi: error: {exc}", file=sys.stderr)
            return 1
    return run


def add_commands(subparsers) -> None:
    midi = subparsers.add_parser("midi", help="DAW bridge: call and response over MIDI ports, or MIDI files")
    sub = midi.add_subparsers(dest="midi_command", required=True)

    p = sub.add_parser("bridge", help="open MIDI ports and answer each phrase you play")
    _endpoint(p)
    p.add_argument("--api", default="auto", choices=["auto", "jack", "alsa", "coremidi", "windows"])
    p.add_argument("--in-name", default="muselink in", help="name of the virtual input port")
    p.add_argument("--out-name", default="muselink out", help="name of the virtual output port")
    p.add_argument("--connect-in", help="listen to this existing port instead of a virtual one (part of its name)")
    p.add_argument("--connect-out", help="play to this existing port instead of a virtual one (part of its name)")
    p.add_argument("--bpm", type=float, default=120.0, help="tempo when no MIDI clock arrives (default 120)")
    p.add_argument("--meter", default="4/4", help="time signature (default 4/4)")
    p.add_argument("--pause-beats", type=float, default=2.0, help="beats of silence that end a phrase (default 2)")
    p.add_argument("--grid", default="1/16", help="quantisation grid: 1/4, 1/8, 1/16, 1/8t, off (default 1/16)")
    p.add_argument("--trigger-cc", default="20", help="CC number that sends the phrase now / stops the answer; off")
    p.add_argument("--channel", type=int, default=None, help="listen to one MIDI channel (0-15; default all)")
    p.add_argument("--align", default="beat", choices=["bar", "beat", "grid", "none"],
                   help="start the answer on the next free bar/beat/grid step in phase with the phrase")
    p.add_argument("--retry-for", type=float, default=60.0, help="seconds to keep retrying while the daemon is down")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0: until Ctrl-C)")
    p.add_argument("--json", action="store_true", help="print events as JSON lines on stdout")
    _sampling(p)
    p.set_defaults(func=_guard(cmd_bridge))

    p = sub.add_parser("continue", help="continue a MIDI file")
    _endpoint(p)
    p.add_argument("input", help="MIDI file to continue")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--answer-only", action="store_true", help="write only the new notes (default: input + new)")
    p.add_argument("--job-timeout", type=float, default=300.0)
    _sampling(p)
    p.set_defaults(func=_guard(cmd_continue))

    p = sub.add_parser("infill", help="regenerate bars of a MIDI file")
    _endpoint(p)
    p.add_argument("input", help="MIDI file")
    p.add_argument("--from", dest="from_bar", type=int, required=True, help="first bar to regenerate")
    p.add_argument("--to", dest="to_bar", type=int, required=True, help="last bar to regenerate")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--job-timeout", type=float, default=300.0)
    _sampling(p, bars=False)
    p.set_defaults(func=_guard(cmd_infill))

    p = sub.add_parser("clip", help="one DAW clip as JSON in, the answer clip as JSON out (for DAW scripts)")
    _endpoint(p)
    p.add_argument("request", help="request JSON: action, notes, clip span, params (see docs/daw.md)")
    p.add_argument("-o", "--output", required=True, help="where to write the answer JSON")
    p.add_argument("--deadline", type=float, default=60.0,
                   help="give up (exit 124) after this many seconds in all (default 60)")
    p.set_defaults(func=_guard(cmd_clip))

    p = sub.add_parser("lyrics", help="write lyrics for a MIDI melody: one syllable per note, as lyric events")
    _endpoint(p)
    p.add_argument("input", help="MIDI file with the melody (the top voice gets the words)")
    p.add_argument("-o", "--output", required=True, help="MIDI file to write: the notes plus lyric events")
    p.add_argument("--theme", default=None, help="what the song is about")
    p.add_argument("--max-line", type=int, default=None, help="longest line in syllables (default 10)")
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature (default 0.8)")
    p.add_argument("--seed", type=int, default=None, help="random seed, for repeatable lyrics")
    p.add_argument("--job-timeout", type=float, default=300.0)
    p.set_defaults(func=_guard(cmd_lyrics))

    p = sub.add_parser("watch", help="drop folder: answer each new .mid with <name>.muselink.mid beside it")
    _endpoint(p)
    p.add_argument("folder")
    p.add_argument("--once", action="store_true", help="answer the files there now, then exit")
    p.add_argument("--full", action="store_true", help="write input + answer (default: the answer only)")
    p.add_argument("--job-timeout", type=float, default=300.0)
    _sampling(p)
    p.set_defaults(func=_guard(cmd_watch))

    p = sub.add_parser("ports", help="list the MIDI ports the bridge can connect to")
    p.add_argument("--api", default="auto", choices=["auto", "jack", "alsa", "coremidi", "windows"])
    p.set_defaults(func=_guard(cmd_ports))

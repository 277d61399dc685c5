"""The ``muselink`` command line. Errors exit non-zero with one clear line on stderr."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .config import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_QUEUED, DaemonConfig, default_endpoint, parse_lanes, parse_size
from .errors import CliError

__all__ = ["CliError", "build_parser", "main"]


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def cmd_serve(args) -> int:
    from .daemon import Daemon

    try:
        lanes = parse_lanes(args.lanes or "")
        sizes = {name: parse_size(text) if text else 0 for name, text in
                 (("model", args.model_memory), ("worker", args.worker_memory), ("message", args.max_message_size))}
    except ValueError as exc:
        raise CliError(str(exc)) from None
    config = DaemonConfig(endpoint=args.endpoint, device=args.device, model_memory_bytes=sizes["model"],
                          max_message_bytes=sizes["message"], lanes=lanes,
                          curve_secret_key=args.curve_secret, curve_clients_dir=args.curve_clients,
                          max_queued_per_client=args.max_queued, executor=args.executor, ray_address=args.ray_address,
                          worker_memory_bytes=sizes["worker"], cancel_grace_s=args.cancel_grace)
    from .endpoints import EndpointError

    try:
        return Daemon(config).serve()
    except EndpointError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:
        if type(exc).__name__ == "ZMQError":
            raise CliError(f"cannot bind {config.endpoint}: {exc} (is another muselink daemon running?)") from None
        raise


def _client(args, name="cli"):
    from muselink.bridge.client import Client

    return Client(args.endpoint, name=name, timeout=args.timeout)


def cmd_status(args) -> int:
    with _client(args) as client:
        status = client.hello()
    if args.json:
        print(json.dumps(status.header(), indent=1))
        return 0
    print(f"muselink daemon {status.daemon_version} at {args.endpoint} (protocol {status.protocol}, "
          f"device {status.plugins.get('device')})")
    for name, lane in status.lanes.items():
        print(f"  lane {name:12s} workers {lane['workers']}  running {lane['running']}  queued {lane['queued']}")
    for w in status.workers:
        models = ", ".join(w.get("models") or []) or "no models loaded"
        shm = w.get("shared_memory") or {}
        slots = f"  shared memory {shm.get('slots', 0)} slots {shm.get('bytes', 0) / 2**20:.0f} MiB" if shm.get("sending") else ""
        print(f"  worker {w['name']:14s} pid {w['pid'] or '-':>7}  {w['state']:8s} restarts {w['restarts']}  "
              f"RSS {w.get('rss_bytes', 0) / 2**20:.0f} MiB{slots}  {models}")
    for name, state in status.plugins.get("loaded", {}).items():
        print(f"  plugin {name}: {state}")
    print(f"  {len(status.capabilities)} capabilities (muselink capabilities)")
    return 0


def cmd_capabilities(args) -> int:
    with _client(args) as client:
        caps = client.hello().capabilities
    if args.json:
        print(json.dumps([c.to_json() for c in caps], indent=1))
        return 0
    for cap in caps:
        flag = "" if cap.available else f"  [unavailable: {cap.unavailable_reason}]"
        print(f"{cap.name:20s} {cap.lane:12s} {cap.summary}{flag}")
        for i in cap.inputs:
            print(f"    -i {i.name}=<{i.kind}>{'' if i.required else ' (optional)'}  {i.help}")
        for p in cap.params:
            rng = f" [{p.min}..{p.max}]" if p.min is not None else ""
            choices = f" {{{', '.join(map(str, p.choices))}}}" if p.choices else ""
            print(f"    -p {p.name}=<{p.type}> default {p.default!r}{rng}{choices}  {p.help}")
        made = ", ".join(f"{o.name} ({o.kind})" for o in cap.outputs)
        print(f"    → {made}")
    return 0


def parse_params(items: list[str]) -> dict:
    params = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"parameter {item!r} must look like key=value")
        params[key.strip()] = value
    return params


def read_inputs(spec, items: list[str], style_image: str | None, mask: str | None) -> dict:
    """Payloads for ``spec``'s inputs from the command line, each read as its input's kind: ``-i PATH``
    fills the next input in schema order, ``-i NAME=PATH`` a named one; ``--style-image`` fills
    ``style``, ``--mask`` the first mask input. Raises CliError naming a file or an input."""
    from .files import read_for_kind

    names = [i.name for i in spec.inputs]
    chosen: dict[str, tuple[str, str]] = {}  # input name -> (path, how to read it)
    for item in items or ():
        name, sep, path = item.partition("=")
        if sep and name in names:
            chosen[name] = (path, spec.input(name).kind)
            continue
        free = [n for n in names if n not in chosen and spec.input(n).kind != "mask"]
        if not free:
            raise CliError(f"{spec.name} takes no more inputs than {', '.join(names) or 'none'} (got -i {item})")
        chosen[free[0]] = (item, spec.input(free[0]).kind)
    if style_image:
        chosen["style"] = (style_image, "rgb")  # a style picture's alpha means nothing
    if mask:
        target = next((i.name for i in spec.inputs if i.kind == "mask"), None)
        if target is None:
            raise CliError(f"{spec.name} takes no mask")
        chosen[target] = (mask, "mask")
    return {name: read_for_kind(path, kind) for name, (path, kind) in chosen.items()}


def cmd_run(args) -> int:
    from muselink.bridge import protocol as P
    from muselink.bridge.payloads import BlobData
    from muselink.bridge.client import DaemonUnavailable, JobFailed

    from .files import natural_suffix, save_payload

    params = parse_params(args.param)
    bar = None

    def on_event(event):
        nonlocal bar
        if isinstance(event, P.Progress) and not args.quiet:
            if bar is None:
                from tqdm import tqdm

                bar = tqdm(total=100, desc=args.capability, unit="%", file=sys.stderr, leave=False)
            bar.n = round(event.fraction * 100)
            bar.set_postfix_str(event.message[:40])
            bar.refresh()

    with _client(args) as client:
        try:
            spec = client.hello().capability(args.capability)
            if spec is None:  # the daemon names what it has
                payloads = {}
            else:
                try:
                    payloads = read_inputs(spec, args.input, args.style_image, args.mask)
                except ValueError as exc:
                    raise CliError(str(exc)) from None
            result = client.run(args.capability, payloads, params, on_event=on_event, timeout=args.job_timeout)
        except JobFailed as exc:
            raise CliError(str(exc)) from None
        except DaemonUnavailable as exc:
            raise CliError(str(exc)) from None
        finally:
            if bar is not None:
                bar.close()
    outputs = list(result.payloads.items())
    if not outputs:
        raise CliError(f"{args.capability} returned no output")
    if args.output is None:  # text results print; anything else needs a file
        for name, payload in outputs:
            if not (isinstance(payload, BlobData) and payload.media_type.startswith("text/plain")):
                raise CliError(f"{args.capability} returned '{name}' ({payload.kind}); give -o/--output to save it")
            print(payload.to_bytes().decode("utf-8"))
        if args.meta:
            print(json.dumps(result.meta, indent=1, default=str))
        return 0
    out = Path(args.output)
    for i, (name, payload) in enumerate(outputs):  # the first output takes -o; others go beside it
        path = out if i == 0 else out.with_name(f"{out.stem}.{name}{natural_suffix(payload)}")
        save_payload(payload, path, result.meta)
        print(path)
    if args.meta:
        print(json.dumps(result.meta, indent=1, default=str))
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(Path(args.output))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="muselink", description="Generative models inside Krita, Blender and your DAW.")
    parser.add_argument("--version", action="version", version=f"muselink {__version__}")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True)

    def with_endpoint(p):
        p.add_argument("--endpoint", default=default_endpoint(), help="daemon address (env MUSELINK_ENDPOINT)")
        p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the daemon to answer")
        return p

    p = sub.add_parser("serve", help="run the daemon")
    p.add_argument("--endpoint", default=default_endpoint(), help="tcp://127.0.0.1:5757 (default) or ipc://PATH")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps")
    p.add_argument("--model-memory", default="", help="model cache budget per worker, e.g. 8G (default: half of RAM)")
    p.add_argument("--max-message-size", default=str(DEFAULT_MAX_MESSAGE_BYTES), help="refuse bigger messages, e.g. 512M")
    p.add_argument("--lanes", default="", help="workers per lane, e.g. heavy=4 (default one worker per lane: "
                                                 "interactive, image, heavy, text)")
    p.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="local worker processes (default), or Ray actors (pip install 'muselink[ray]')")
    p.add_argument("--ray-address", default=None, help="with --executor ray: auto or HOST:PORT of a Ray cluster "
                                                       "(default: start a local Ray)")
    p.add_argument("--worker-memory", default="", help="memory cap per worker, e.g. 4G: a job over it ends "
                                                       "'out_of_memory' and its worker restarts (default: none)")
    p.add_argument("--cancel-grace", type=float, default=5.0,
                   help="seconds a cancelled job may take to stop before its worker is restarted (default 5)")
    p.add_argument("--max-queued", type=int, default=DEFAULT_MAX_QUEUED,
                   help=f"queued jobs allowed per client before 'queue_full' (default {DEFAULT_MAX_QUEUED})")
    p.add_argument("--curve-secret", default=None, help="CurveZMQ secret key file; required to bind a non-loopback address")
    p.add_argument("--curve-clients", default=None, help="folder of authorised client public keys (CurveZMQ)")
    p.set_defaults(func=cmd_serve)

    p = with_endpoint(sub.add_parser("status", help="show the daemon's state"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = with_endpoint(sub.add_parser("capabilities", help="list capabilities and their parameters"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_capabilities)

    p = with_endpoint(sub.add_parser("run", help="run a capability through the daemon"))
    p.add_argument("capability")
    p.add_argument("--input", "-i", action="append", metavar="[NAME=]PATH",
                   help="an input file, read as the capability's input kind (image, mask, notes); -i PATH fills "
                        "the next input in order, -i NAME=PATH a named one (repeatable)")
    p.add_argument("--style-image", help="style picture for style capabilities")
    p.add_argument("--mask", help="mask image (white = change) for the capability's mask input")
    p.add_argument("--output", "-o", help="file for the first output (others go beside it); text prints without it")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="capability parameter (repeatable)")
    p.add_argument("--job-timeout", type=float, default=None, help="cancel the job after this many seconds")
    p.add_argument("--meta", action="store_true", help="print the result's metadata as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="start a daemon, stylize sample images, write the results, stop")
    p.add_argument("--output", "-o", default="out/demo")
    p.set_defaults(func=cmd_demo)

    from .registry import Registry

    for impl in Registry().pm.hook.muselink_add_commands.get_hookimpls():
        try:  # a plugin whose commands break is reported; the rest of the CLI still works
            impl.function(subparsers=sub)
        except Exception as exc:
            logging.getLogger("muselink.plugins").warning("plugin %s could not add its commands: %s: %s",
                                                          impl.plugin_name, type(exc).__name__, exc)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.log_level)
    try:
        return int(args.func(args) or 0)
    except (CliError, ConnectionError, TimeoutError) as exc:
        print(f"muselink: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("muselink: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

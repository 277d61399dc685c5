"""``muselink models add|list|check|remove``: manage diffusion models offline."""
from __future__ import annotations

import json
import time

from . import registry


def _config_dir():
    from . import config_dir

    return config_dir()


def _fail(exc: Exception):
    from muselink.core.api import CliError

    return CliError(str(exc))


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def cmd_add(args) -> int:
    try:
        entry = registry.add(_config_dir(), args.name, args.source, config=args.config, replace=args.replace)
    except registry.ModelError as exc:
        raise _fail(exc) from None
    default = registry.load_entries(_config_dir())[0].name == entry.name
    print(f"added {entry.name}: {entry.kind} {entry.source} ({_size(entry.size_bytes)}, hash {entry.short_hash})"
          + ("  [default]" if default else ""))
    return 0


def cmd_list(args) -> int:
    try:
        entries = registry.load_entries(_config_dir())
    except registry.ModelError as exc:
        raise _fail(exc) from None
    if args.json:
        print(json.dumps([e.__dict__ for e in entries], indent=1))
        return 0
    if not entries:
        print(f"no models configured in {registry.models_file(_config_dir())}; {registry.ADD_HINT}")
        return 0
    for i, e in enumerate(entries):
        print(f"{e.name:20s} {e.kind:11s} {_size(e.size_bytes):>9s}  {e.short_hash}  {e.source}"
              + ("  [default]" if i == 0 else ""))
    return 0


def cmd_check(args) -> int:
    """Load each model (or NAME) offline; report components, size, and whether the hash still matches."""
    from muselink.core.api import resolve_device

    from .loading import describe, load_pipeline

    try:
        entries = [registry.find(_config_dir(), args.name)] if args.name else registry.load_entries(_config_dir())
    except registry.ModelError as exc:
        raise _fail(exc) from None
    if not entries:
        raise _fail(registry.ModelError(f"no models configured; {registry.ADD_HINT}"))
    device = resolve_device(args.device)
    failed = 0
    reports = []
    for entry in entries:
        report = {"name": entry.name, "source": entry.source, "kind": entry.kind, "hash": entry.short_hash}
        try:
            path = registry.local_path(entry)
            files = registry.weight_files(entry.kind, path)
            now = registry.hash_files(files, None if entry.kind == "single_file" else path)
            report["hash_ok"] = now == entry.hash
            start = time.perf_counter()
            model = load_pipeline(entry, device)
            report["load_seconds"] = round(time.perf_counter() - start, 2)
            report.update(describe(model), device=device)
            if not report["hash_ok"]:
                report["problem"] = (f"weights changed since `models add` (hash {now[:10]} != {entry.short_hash}); "
                                     f"re-add with --replace")
        except Exception as exc:  # report every model, then fail
            report["problem"] = f"{type(exc).__name__}: {exc}"
        failed += "problem" in report
        reports.append(report)
        if not args.json:
            _print_report(report)
    if args.json:
        print(json.dumps(reports, indent=1))
    return 1 if failed else 0


def _print_report(r: dict) -> None:
    if "pipeline" not in r:
        print(f"{r['name']}: FAILED: {r['problem']}")
        return
    status = "ok" if "problem" not in r else f"PROBLEM: {r['problem']}"
    print(f"{r['name']}: {status}\n  {r['pipeline']} from {r['source']} on {r['device']}, loaded in "
          f"{r['load_seconds']} s, native {r['native_size']} px, {_size(r['bytes'])} in memory, hash {r['hash']}")
    for name, c in r["components"].items():
        extra = f" {c['parameters'] / 1e6:.2f} M parameters, {_size(c['bytes'])}" if "parameters" in c else ""
        print(f"  {name:15s} {c['class']}{extra}")


def cmd_remove(args) -> int:
    try:
        entry = registry.remove(_config_dir(), args.name)
    except registry.ModelError as exc:
        raise _fail(exc) from None
    print(f"removed {entry.name} ({entry.source}); its files were not touched")
    return 0


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("models", help="manage diffusion models (offline; never downloads)")
    sub = p.add_subparsers(dest="models_command", required=True)
    a = sub.add_parser("add", help="register a model: a diffusers folder, a .safetensors/.ckpt file or a cached hub id")
    a.add_argument("name")
    a.add_argument("source")
    a.add_argument("--config", help="single files: a diffusers folder or cached hub id with the pipeline config")
    a.add_argument("--replace", action="store_true", help="replace a model of the same name")
    a.set_defaults(func=cmd_add)
    ls = sub.add_parser("list", help="list registered models (the first is the default)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    c = sub.add_parser("check", help="load models offline and report components, size and hash")
    c.add_argument("name", nargs="?")
    c.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, mps")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_check)
    r = sub.add_parser("remove", help="forget a model (its files are kept)")
    r.add_argument("name")
    r.set_defaults(func=cmd_remove)

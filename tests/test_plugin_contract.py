"""The plugin contract: documented hooks, each exercised; entry points load, broken ones are skipped."""
import ast
import inspect
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from muselink.core import cli, hookspecs
from muselink.core.capability import Capability, JobOutput
from muselink.core.config import DaemonConfig
from muselink.core.daemon import Daemon
from muselink.core.demo import free_endpoint
from muselink.core.registry import Registry
from muselink.host_addons import hostspec

TESTS = Path(__file__).parent


def hook_names(module):
    return [name for name, fn in inspect.getmembers(module, inspect.isfunction)
            if name.startswith("muselink_") and hasattr(fn, f"{module.PROJECT}_spec")]


@pytest.mark.parametrize("module", [hookspecs, hostspec])
def test_every_hook_is_documented_with_its_result_rule(module):
    """Each hook has a docstring that states whether it is firstresult, and typed arguments."""
    for name in hook_names(module):
        fn = getattr(module, name)
        doc = inspect.getdoc(fn) or ""
        assert len(doc) > 40, f"{name} needs a docstring"
        firstresult = getattr(fn, f"{module.PROJECT}_spec").get("firstresult")
        assert ("firstresult" in doc) or not firstresult, f"{name}: docstring must say it is firstresult"
        assert "return" in inspect.signature(fn).return_annotation.lower() or fn.__annotations__.get("return")


def test_every_core_hook_has_a_test():
    """Each core hook has a test named test_hook_<hook> somewhere in the suite."""
    names = {node.name for path in TESTS.glob("test_*.py") for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.FunctionDef)}
    missing = [h for h in hook_names(hookspecs) if f"test_hook_{h}" not in names]
    assert not missing, f"hooks without tests: {missing}"


def test_every_host_hook_is_implemented_by_every_add_on_and_called_by_the_session():
    """Each host-adapter hook is implemented by every add-on's host adapter and called by the bridge's host session."""
    root = TESTS.parent
    session = "\n".join(p.read_text() for p in (root / "bridge").glob("*.py"))
    for adapter in (root / "host_addons").glob("*/**/host/adapter.py"):
        text = adapter.read_text()
        for hook in hook_names(hostspec):
            assert f"def {hook}(" in text, f"{adapter} does not implement {hook}"
    for hook in hook_names(hostspec):
        assert f"hook.{hook}(" in session, f"the session never calls {hook}"
    assert len(list((root / "host_addons").glob("*/**/host/adapter.py"))) == 3


def test_builtin_plugins_have_no_unknown_hooks():
    """check_pending() is clean: every implementation matches a spec."""
    Registry(load_entry_points=False).pm.check_pending()


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """A distribution on sys.path with one good and one broken muselink.plugins.v1 entry point."""
    (tmp_path / "good_muse_plugin.py").write_text(textwrap.dedent('''
        from muselink.core.capability import Capability, JobOutput
        from muselink.core.hookspecs import hookimpl

        @hookimpl
        def muselink_capabilities():
            return [Capability(name="third.party", summary="from an entry point", run=lambda i, p, c: JobOutput({}))]

        @hookimpl
        def muselink_add_commands(subparsers):
            p = subparsers.add_parser("hello-plugin")
            p.set_defaults(func=lambda args: print("plugin command ran") or 0)
    '''))
    dist = tmp_path / "good_muse_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: good-muse-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[muselink.plugins.v1]\ngood = good_muse_plugin\n"
                                           "broken = no_such_module_anywhere_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("good_muse_plugin", None)


def test_hook_muselink_capabilities(fake_distribution):
    """An entry-point plugin's capabilities join the built-ins; a broken plugin is reported, not fatal."""
    registry = Registry()
    assert "third.party" in registry.capabilities and "style.fast" in registry.capabilities
    assert registry.plugins["good"] == "ok"
    assert "failed to load" in registry.plugins["broken"] and "no_such_module_anywhere_xyz" in registry.plugins["broken"]


def test_broken_plugin_is_listed_in_daemon_status(fake_distribution, daemon_factory, client_factory):
    """A real daemon with a broken entry point serves, and status names the failure."""
    endpoint, _ = daemon_factory(env={"PYTHONPATH": str(fake_distribution)})
    status = client_factory(endpoint).hello()
    assert "failed to load" in status.plugins["loaded"]["broken"]
    assert any(c["name"] == "third.party" for c in status.capabilities)


def test_hook_muselink_add_commands(fake_distribution, capsys):
    """A plugin's sub-command appears in the CLI and runs."""
    assert cli.main(["hello-plugin"]) == 0
    assert "plugin command ran" in capsys.readouterr().out


def test_plugin_whose_commands_fail_does_not_break_the_cli(fake_distribution, capsys):
    """A plugin raising in muselink_add_commands is logged and skipped; other commands still run."""
    (fake_distribution / "good_muse_plugin.py").write_text(
        (fake_distribution / "good_muse_plugin.py").read_text().replace(
            'p = subparsers.add_parser("hello-plugin")', 'raise RuntimeError("boom")'))
    sys.modules.pop("good_muse_plugin", None)
    with pytest.raises(SystemExit):
        cli.main(["hello-plugin"])
    assert cli.build_parser().parse_args(["status"]).command == "status"


class Recorder:
    def __init__(self):
        self.config = None
        self.shutdowns = 0

    @hookspecs.hookimpl
    def muselink_configure(self, config):
        self.config = config

    @hookspecs.hookimpl
    def muselink_shutdown(self):
        self.shutdowns += 1

    @hookspecs.hookimpl
    def muselink_capabilities(self):
        return [Capability(name="style.fast", summary="override", run=lambda i, p, c: JobOutput({}))]


def run_daemon_briefly(recorder):
    registry = Registry(load_entry_points=False)
    registry.register(recorder, "recorder")
    daemon = Daemon(DaemonConfig(endpoint=free_endpoint()), registry)
    ready = threading.Event()
    thread = threading.Thread(target=daemon.serve, kwargs={"install_signals": False, "ready": ready})
    thread.start()
    assert ready.wait(10)
    daemon.stop()
    thread.join(10)
    return registry


def test_hook_muselink_configure():
    """Plugins receive the daemon configuration before serving."""
    recorder = Recorder()
    run_daemon_briefly(recorder)
    assert isinstance(recorder.config, DaemonConfig)


def test_hook_muselink_shutdown():
    """Plugins are told once when the daemon stops."""
    recorder = Recorder()
    run_daemon_briefly(recorder)
    assert recorder.shutdowns == 1


def test_third_party_plugin_overrides_a_builtin_capability():
    """Built-ins are trylast, so a later-registered plugin's capability of the same name wins."""
    registry = Registry(load_entry_points=False)
    registry.register(Recorder(), "recorder")
    assert registry.capabilities["style.fast"].summary == "override"


def test_hook_muselink_demo(tmp_path, capsys):
    """``muselink demo`` runs every plugin's demo step with its client and collects the paths they wrote."""
    from muselink.core import demo

    class Step:
        @hookspecs.hookimpl
        def muselink_demo(self, client, out_dir):
            path = out_dir / f"{client}.txt"
            path.write_text("made by a plugin")
            return [path]

    registry = Registry(load_entry_points=False, builtins=())
    registry.register(Step(), "step")
    assert demo.plugin_steps(registry, "client", tmp_path) == [tmp_path / "client.txt"]

"""The muselink CLI: one clear line on errors, results written with provenance."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from muselink.core.cli import main
from muselink.core.demo import free_endpoint


def muselink(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "muselink.core.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def photo_file(tmp_path):
    path = tmp_path / "in.png"
    rgba = np.zeros((96, 128, 4), np.uint8)
    rgba[..., 0] = np.linspace(0, 255, 128, dtype=np.uint8)
    rgba[..., 1] = 120
    rgba[..., 3] = 255
    rgba[:10, :10, 3] = 0
    Image.fromarray(rgba).save(path)
    return path


def test_run_writes_the_result_with_provenance_chunks(shared_daemon, photo_file, tmp_path):
    """`muselink run` writes a PNG of the input's size carrying A1111 `parameters` and muselink JSON."""
    out = tmp_path / "out.png"
    proc = muselink("run", "style.fast", "-i", str(photo_file), "-o", str(out), "-p", "style=mosaic", "-q",
                    "--endpoint", shared_daemon)
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as img:
        assert img.size == (128, 96) and img.mode == "RGBA"
        meta = json.loads(img.text["muselink"])
        assert "Capability: style.fast" in img.text["parameters"]
    assert meta["capability"] == "style.fast" and meta["params"]["style"] == "mosaic" and meta["model_hash"]


def test_bad_parameter_exits_nonzero_with_one_line(shared_daemon, photo_file, tmp_path):
    """A bad parameter is one clear line on stderr and exit code 1."""
    proc = muselink("run", "style.fast", "-i", str(photo_file), "-o", str(tmp_path / "x.png"), "-p", "strength=2",
                    "--endpoint", shared_daemon)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == \
        "muselink: error: bad_parameter: parameter 'strength' must be between 0.0 and 1.0, got 2.0"


def test_missing_input_file_is_named(shared_daemon, tmp_path):
    """A missing input file is named in the error."""
    proc = muselink("run", "style.fast", "-i", str(tmp_path / "nope.png"), "-o", str(tmp_path / "x.png"),
                    "--endpoint", shared_daemon)
    assert proc.returncode == 1 and "file not found" in proc.stderr and "nope.png" in proc.stderr


def test_daemon_not_running_is_one_clear_line(capsys):
    """Without a daemon, status fails fast and says how to start one."""
    assert main(["status", "--endpoint", free_endpoint(), "--timeout", "0.5"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("muselink: error:") and "muselink serve" in err and len(err.splitlines()) == 1


def test_status_and_capabilities_list_what_the_daemon_offers(shared_daemon):
    """status shows lanes, every worker process and plugins; capabilities lists parameters with types and ranges."""
    status = muselink("status", "--endpoint", shared_daemon)
    assert status.returncode == 0 and "lane heavy" in status.stdout and "lane interactive" in status.stdout
    assert "worker heavy-0" in status.stdout and "restarts 0" in status.stdout and "MiB" in status.stdout
    caps = muselink("capabilities", "--endpoint", shared_daemon)
    assert "style.fast" in caps.stdout and "-p strength=<float> default 1.0 [0.0..1.0]" in caps.stdout


def test_serve_refuses_a_public_address_without_curve_keys():
    """Binding 0.0.0.0 without CurveZMQ keys exits 1 and explains the safe alternatives."""
    proc = muselink("serve", "--endpoint", "tcp://0.0.0.0:5799", timeout=30)
    assert proc.returncode == 1
    assert "refusing to bind tcp://0.0.0.0:5799" in proc.stderr and "--curve-secret" in proc.stderr


def test_curve_daemon_serves_authorised_clients_only(daemon_factory, tmp_path):
    """With CurveZMQ keys, a client holding an authorised key is served; a stranger gets nothing."""
    import zmq.auth

    from muselink.bridge.client import Client

    keys, clients = tmp_path / "keys", tmp_path / "clients"
    keys.mkdir(), clients.mkdir()
    server_public, server_secret = zmq.auth.create_certificates(keys, "server")
    client_public, client_secret = zmq.auth.create_certificates(keys, "client")
    (clients / "client.key").write_bytes(open(client_public, "rb").read())
    server_key = zmq.auth.load_certificate(server_public)[0]
    authorised = {"curve_server_key": server_key, "curve_keypair": zmq.auth.load_certificate(client_secret)}
    endpoint, _ = daemon_factory("--curve-secret", server_secret, "--curve-clients", str(clients),
                                 client_options=authorised)
    with Client(endpoint, **authorised) as good:
        assert good.hello().protocol == 1
    with Client(endpoint, curve_server_key=server_key, timeout=1.5) as stranger:
        with pytest.raises(ConnectionError):
            stranger.hello()


def test_music_result_is_written_as_midi_with_notes_beside_it(shared_daemon, tmp_path):
    """`run music.continue -o x.mid` writes a real MIDI file and the notes as JSON, which runs again as input."""
    from muselink.bridge.payloads import Note, NotesData
    from muselink.core.midifile import midi_from_notes, notes_from_midi, provenance_of

    melody = NotesData(notes=tuple(Note(i * 480, 480, p) for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62])),
                       ppq=480, bpm=100.0)
    src = tmp_path / "in.mid"
    src.write_bytes(midi_from_notes(melody))
    proc = muselink("run", "music.continue", "-i", str(src), "-o", str(tmp_path / "out.mid"), "-q",
                    "-p", "bars=1", "-p", "seed=3", "--endpoint", shared_daemon)
    assert proc.returncode == 0, proc.stderr
    answer = notes_from_midi((tmp_path / "out.mid").read_bytes())
    assert answer.notes and min(n.start for n in answer.notes) >= 8 * 480
    assert provenance_of((tmp_path / "out.mid").read_bytes())["seed"] == 3
    again = muselink("run", "music.continue", "-i", str(tmp_path / "out.notes.json"), "-o", str(tmp_path / "2.mid"),
                     "-q", "--endpoint", shared_daemon)
    assert again.returncode == 0, again.stderr

"""The host session (bridge/session.py) with a stand-in client: what every host add-on relies on."""
from __future__ import annotations

import threading

import pytest

from muselink.bridge import protocol as P
from muselink.bridge.client import DaemonUnavailable, JobHandle
from muselink.bridge.host import CaptureRequest
from muselink.bridge.jobs import CANCELLED, DONE, FAILED, Policy
from muselink.bridge.payloads import BlobData, ImageData
from muselink.bridge.schema import CapabilitySpec
from muselink.bridge.session import Session
from muselink.host_addons import hostspec

SPEC = CapabilitySpec.from_json({
    "name": "t.cap", "params": [{"name": "n", "type": "int", "default": 1, "min": 0, "max": 9}],
    "inputs": [{"name": "image", "kind": "image"}],
    "outputs": [{"name": "image", "kind": "image"}, {"name": "words", "kind": "text"}, {"name": "raw", "kind": "file"}]})
PIXEL = ImageData(1, 1, 4, b"\0\0\0\xff")


class Client:
    """Records submissions; replies are put on the handles by the test."""

    endpoint, connected = "tcp://stand-in", True

    def __init__(self):
        self.sent, self.cancelled, self.down = [], [], False

    def submit(self, capability, payloads, params, session=None):
        if self.down:
            raise DaemonUnavailable("muselink daemon not reachable at tcp://stand-in")
        handle = JobHandle(id=f"j{len(self.sent) + 1}", capability=capability)
        self.sent.append((handle, dict(payloads), dict(params), session))
        return handle

    def reply(self, index, *events):
        handle = self.sent[index][0]
        for event in events:
            handle.events.append(event)
            if isinstance(event, P.TERMINAL):
                handle.terminal = event

    def drain(self):
        return []

    def cancel(self, job_id):
        self.cancelled.append(job_id)

    def close(self):
        pass


class Host:
    def __init__(self, applies=("image", "text")):
        self.applies, self.placed = applies, []

    @hostspec.hookimpl
    def muselink_host_info(self):
        return hostspec.HostInfo("t", captures=("image",), applies=self.applies)

    @hostspec.hookimpl
    def muselink_host_capture(self, request):
        return hostspec.Capture({request.wants("image").name: PIXEL}, target="here")

    @hostspec.hookimpl
    def muselink_host_apply(self, capture, output, meta, replace):
        self.placed.append((output.kind, output.name, replace))
        return hostspec.Applied(output.kind, f"{output.name}-{len(self.placed)}")


def session_for(host=None, policy=None, threaded=False):
    client = Client()
    host = host or Host()
    session = Session(hostspec.host_manager(host), client=client, policy=policy or Policy(hello="never"),
                      threaded=threaded, clock=lambda: 100.0)
    session.set_status(P.Status(protocol=1, daemon_version="t", capabilities=[SPEC]))
    return session, client, host


def result(job_id, **extra):
    payloads = {"image": PIXEL, "words": BlobData("text/plain", b"hi"), "raw": BlobData("application/x", b"1")}
    return P.Result(job=job_id, payloads=payloads, meta={"seconds": 0.1, **extra})


def test_each_output_is_applied_once_by_its_kind_and_files_are_left_alone():
    """A result's image and text go to the host's appliers once each, in schema order; a file output never."""
    session, client, host = session_for()
    job = session.start(CaptureRequest("t.cap"), {"n": "3"})
    assert client.sent[0][2] == {"n": 3} and list(client.sent[0][1]) == ["image"]
    client.reply(0, P.Accepted(job="j1", lane="interactive"), P.Progress(job="j1", fraction=0.5), result("j1"))
    outcomes = session.tick()
    assert [o.job for o in outcomes] == [job] and job.state == DONE and job.fraction == 1.0
    assert [(k, n) for k, n, _ in host.placed] == [("image", "image"), ("text", "words")]
    assert session.tick() == [] and len(host.placed) == 2 and job.outcome.ok


def test_a_bad_parameter_is_refused_before_anything_is_sent():
    """Values are checked by the schema with the daemon's messages; nothing goes out."""
    session, client, _ = session_for()
    with pytest.raises(ValueError, match="parameter 'n' must be between 0 and 9, got 12"):
        session.start(CaptureRequest("t.cap"), {"n": 12})
    assert client.sent == []


def test_live_results_replace_the_previous_one_and_stale_ones_are_dropped():
    """Live requests share one session id; a result older than one already shown is not applied."""
    session, client, host = session_for()
    looks = iter(range(100))
    session.set_live(True, lambda: ("t.cap", {"n": next(looks) % 9}, CaptureRequest("t.cap")))
    session.live.pause = 0.0
    session.tick(1.0)
    session.tick(2.0)
    assert [s for *_, s in client.sent] == [session.live_session] * 2
    client.reply(1, result("j2"))
    session.tick(2.1)
    client.reply(0, result("j1"))
    stale = session.tick(2.2)
    assert stale[0].stale and [n for _, n, _ in host.placed] == ["image", "words"]


def test_a_job_the_daemon_never_got_is_retried_then_given_up():
    """With a retry window the capture is sent again every retry_every s; after it, the job fails once."""
    clock = [0.0]
    session, client, _ = session_for(policy=Policy(hello="never", retry_every=1.0, retry_for=2.5))
    session.clock = lambda: clock[0]
    events = []
    session.listeners.append(lambda event, job: events.append(event))
    client.down = True
    job = session.start(CaptureRequest("t.cap"), {})
    for t in (0.5, 1.0, 2.0, 3.0):
        clock[0] = t
        session.tick(t)
    assert job.state == FAILED and job.error_code == "unreachable" and events.count("down") == 1 and "gave_up" in events
    client.down = False
    job = session.start(CaptureRequest("t.cap"), {})
    assert len(client.sent) == 1 and job.retry_at is None


def test_forgotten_jobs_ignore_what_arrives_later():
    """cancel(forget=True) sends the cancel and drops the job: its late result is never applied."""
    session, client, host = session_for()
    job = session.start(CaptureRequest("t.cap"), {})
    session.cancel(job, forget=True)
    client.reply(0, result("j1"))
    assert session.tick() == [] and client.cancelled == ["j1"] and job.state == CANCELLED and not host.placed


def test_threaded_hosts_capture_and_apply_on_their_thread_while_another_pumps():
    """Blender's shape: submit and apply_ready on the main thread, pump on a worker; nothing is sent before a pump."""
    session, client, host = session_for(threaded=True)
    job = session.start(CaptureRequest("t.cap"), {})
    assert client.sent == []
    worker = threading.Thread(target=session.pump)
    worker.start()
    worker.join()
    client.reply(0, result("j1"))
    worker = threading.Thread(target=session.pump)
    worker.start()
    worker.join()
    assert job.finished and job.outcome is None  # read there, applied here
    assert session.apply_ready()[0].ok and [k for k, *_ in host.placed] == ["image", "text"]


def test_hosts_without_a_place_for_an_output_do_not_get_it():
    """Only the kinds a host applies reach it; a result with none of them is an error, not a crash."""
    session, client, host = session_for(Host(applies=("notes",)))
    job = session.start(CaptureRequest("t.cap"), {})
    client.reply(0, result("j1"))
    outcome = session.tick()[0]
    assert not host.placed and not outcome.ok and "has nothing t can place (got image, words, raw)" in outcome.error
    assert job.outcome is outcome

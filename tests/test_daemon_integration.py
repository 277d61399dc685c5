"""A real `muselink serve` subprocess driven through the bridge client and raw sockets."""
import json
import signal
import time

import numpy as np
import pytest
import zmq

from muselink.bridge import protocol as P
from muselink.bridge.client import Client, JobFailed
from muselink.bridge.payloads import ImageData

IMG = ImageData.from_numpy(np.random.default_rng(0).integers(0, 255, (64, 64, 4), dtype=np.uint8))


def wait_until(predicate, timeout=10.0, client=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client is not None:
            client.poll(0.05)
        if predicate():
            return True
        time.sleep(0.01 if client is None else 0)
    return False


@pytest.fixture
def raw(daemon):
    """A raw DEALER socket for sending hand-made frames."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.rcvtimeo = 5000
    sock.connect(daemon)
    yield sock
    sock.close(linger=0)


def reply_of(sock):
    return P.decode(sock.recv_multipart(), P.DAEMON_MESSAGES)


def test_hello_reports_versions_capabilities_schemas_and_lanes(client):
    """hello answers with protocol + daemon version, capability schemas, lanes and queue lengths."""
    status = client.hello()
    assert status.protocol == P.PROTOCOL_VERSION and status.daemon_version
    caps = {c["name"]: c for c in status.capabilities}
    assert {"style.fast", "style.arbitrary", "debug.echo"} <= set(caps)
    style = next(p for p in caps["style.fast"]["params"] if p["name"] == "style")
    assert style["type"] == "choice" and "mosaic" in style["choices"]
    assert {"interactive", "heavy"} <= set(status.lanes) and "queued" in status.lanes["heavy"]


def test_protocol_version_mismatch_is_a_clear_error(raw):
    """A client speaking another protocol version is told both versions."""
    raw.send_multipart([P.TAG, b"hello", json.dumps({"client": "old", "protocol": 99}).encode()])
    reply = reply_of(raw)
    assert isinstance(reply, P.Error) and reply.code == "protocol_version" and "99" in reply.message


@pytest.mark.parametrize("frames, code", [
    ([P.TAG, b"submit"], "frame_count"),
    ([P.TAG, b"submit", b"{oops"], "bad_json"),
    ([P.TAG, b"explode", b"{}"], "unknown_command"),
    ([b"muselink/7", b"hello", b"{}"], "protocol_version"),
    ([P.TAG, b"submit", json.dumps({"job": "j1", "capability": "debug.echo", "payloads": {"image": {
        "kind": "image", "width": 8, "height": 8, "channels": 4, "frame": 0}}}).encode(), b"\0" * 10], "frame_size"),
    ([P.TAG, b"submit", json.dumps({"job": "j2", "capability": "paint.everything"}).encode()], "unknown_capability"),
    ([P.TAG, b"submit", json.dumps({"job": "j3", "capability": "debug.echo", "params": {"steps": -4}}).encode()],
     "bad_parameter"),
])
def test_malformed_message_gets_error_and_daemon_keeps_serving(raw, frames, code):
    """Each malformed message gets an error naming the problem, then ping still works."""
    raw.send_multipart(frames)
    reply = reply_of(raw)
    assert isinstance(reply, P.Error) and reply.code == code, reply
    assert reply.message
    raw.send_multipart(P.encode(P.Ping(nonce=5)))
    assert reply_of(raw) == P.Pong(nonce=5)


def test_error_reply_names_the_job_of_a_bad_submit(raw):
    """A refused submit's error carries its job id so the client can match it."""
    raw.send_multipart(P.encode(P.Submit(job="mine-7", capability="nope")))
    assert reply_of(raw).job == "mine-7"


def test_message_over_the_size_limit_is_refused(daemon_factory, client_factory):
    """Above --max-message-size the client refuses locally, raw senders are dropped, the daemon serves on."""
    endpoint, _ = daemon_factory("--max-message-size", "64K")
    client = client_factory(endpoint)
    assert client.hello().max_message_bytes == 65536
    big = ImageData.from_numpy(np.zeros((256, 256, 4), np.uint8))
    with pytest.raises(ValueError, match="exceeds the daemon's limit of 65536 bytes"):
        client.submit("debug.echo", {"image": big})
    ctx = zmq.Context.instance()
    rogue = ctx.socket(zmq.DEALER)
    rogue.linger = 0
    rogue.connect(endpoint)
    rogue.send_multipart(P.encode(P.Submit(job="big", capability="debug.echo", payloads={"image": big})))
    assert rogue.poll(1000) == 0  # libzmq drops the oversized message (MAXMSGSIZE): no work done
    rogue.close(0)
    assert client.run("debug.echo", {"image": IMG}).payloads["image"].width == 64


def test_two_clients_at_once_each_get_their_own_results(daemon, client_factory):
    """Jobs from two clients run concurrently and each result goes back to its sender."""
    a, b = client_factory(daemon, "a"), client_factory(daemon, "b")
    img_b = ImageData.from_numpy(np.full((16, 32, 4), 7, np.uint8))
    ha = a.submit("debug.echo", {"image": IMG}, {"steps": 3, "delay": 0.05})
    hb = b.submit("debug.echo", {"image": img_b}, {"steps": 3, "delay": 0.05})
    ra, rb = a.wait(ha, 20), b.wait(hb, 20)
    assert np.array_equal(ra.payloads["image"].to_numpy(), IMG.to_numpy())
    assert rb.payloads["image"].to_numpy().shape == (16, 32, 4)
    kinds = [type(e).__name__ for e in ha.events]
    assert kinds[0] == "Accepted" and kinds.count("Progress") == 3 and kinds[-1] == "Result"


def test_cancel_stops_only_that_clients_job(daemon, client_factory):
    """Two clients use the same job id; cancelling one leaves the other running to its result."""
    a, b = client_factory(daemon, "a"), client_factory(daemon, "b")
    ha = a.submit("debug.echo", {"image": IMG}, {"steps": 20, "delay": 0.05}, job_id="same")
    hb = b.submit("debug.echo", {"image": IMG}, {"steps": 20, "delay": 0.05}, job_id="same")
    assert wait_until(lambda: ha.progress() is not None, client=a)
    a.cancel("same")
    assert isinstance(a.wait(ha, 10), P.Cancelled)
    assert isinstance(b.wait(hb, 20), P.Result)


def test_cancel_drops_a_queued_job_at_once(client):
    """A job still waiting in its lane is dropped immediately with `cancelled`."""
    running = client.submit("debug.work", {"image": IMG}, {"steps": 30, "delay": 0.1})
    queued = client.submit("debug.work", {"image": IMG}, {"steps": 1})
    assert wait_until(lambda: queued.events, client=client)
    started = time.monotonic()
    client.cancel(queued.id)
    reply = client.wait(queued, 5)
    assert isinstance(reply, P.Cancelled) and "before it started" in reply.reason
    assert time.monotonic() - started < 1.0 and not running.done
    client.cancel(running.id)
    assert isinstance(client.wait(running, 5), P.Cancelled)


def test_short_job_is_not_blocked_by_a_long_job_in_the_other_lane(client):
    """An interactive job submitted while a heavy one runs finishes first, without waiting."""
    long = client.submit("debug.work", {"image": IMG}, {"steps": 40, "delay": 0.1})
    assert wait_until(lambda: long.progress() is not None, client=client)
    started = time.monotonic()
    result = client.run("debug.echo", {"image": IMG}, timeout=10)
    assert isinstance(result, P.Result) and time.monotonic() - started < 1.5
    assert not long.done
    client.cancel(long.id)
    client.wait(long, 5)


def test_live_session_request_supersedes_the_queued_one(client):
    """In live mode a newer request replaces the queued one of the same session (latest wins)."""
    blocker = client.submit("debug.work", {"image": IMG}, {"steps": 20, "delay": 0.05})
    stale = client.submit("debug.work", {"image": IMG}, session="live")
    fresh = client.submit("debug.work", {"image": IMG}, session="live")
    assert "superseded" in client.wait(stale, 5).reason
    assert isinstance(client.wait(fresh, 20), P.Result)
    assert isinstance(client.wait(blocker, 20), P.Result)


def test_daemon_killed_mid_job_gives_prompt_disconnected_error(daemon_factory, client_factory):
    """When the daemon dies, the job in flight ends as error 'disconnected' within seconds."""
    endpoint, proc = daemon_factory()
    client = client_factory(endpoint)
    client.hello()
    handle = client.submit("debug.work", {"image": IMG}, {"steps": 100, "delay": 0.1})
    assert wait_until(lambda: handle.progress() is not None, client=client)
    proc.kill()
    started = time.monotonic()
    reply = client.wait(handle, 15)
    assert isinstance(reply, P.Error) and reply.code == "disconnected"
    assert time.monotonic() - started < 8


def test_client_works_again_after_the_daemon_restarts(daemon_factory, client_factory):
    """The same client reconnects by itself to a daemon restarted on the same endpoint."""
    endpoint, proc = daemon_factory()
    client = client_factory(endpoint)
    client.hello()
    proc.kill()
    proc.wait()
    with pytest.raises(ConnectionError):
        client.hello(timeout=1)
    daemon_factory(endpoint=endpoint)
    client.hello(timeout=10)
    assert client.run("debug.echo", {"image": IMG}, timeout=10).payloads["image"].height == 64


def test_sigterm_cancels_running_jobs_and_exits_zero(daemon_factory, client_factory):
    """On SIGTERM running jobs get `cancelled`, then the daemon exits with code 0."""
    endpoint, proc = daemon_factory()
    client = client_factory(endpoint)
    handle = client.submit("debug.work", {"image": IMG}, {"steps": 100, "delay": 0.1})
    queued = client.submit("debug.work", {"image": IMG})
    assert wait_until(lambda: handle.progress() is not None, client=client)
    proc.send_signal(signal.SIGTERM)
    assert isinstance(client.wait(handle, 10), P.Cancelled)
    assert isinstance(client.wait(queued, 10), P.Cancelled)
    assert proc.wait(10) == 0


def test_failing_capability_reports_error_and_daemon_keeps_serving(client):
    """Bad input inside a capability becomes an `error` reply with a plain message."""
    tiny = ImageData.from_numpy(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(JobFailed, match="bad_input: style.fast: input 'image' is 4x4"):
        client.run("style.fast", {"image": tiny})
    assert client.ping() < 1.0


def test_unknown_cancel_is_answered_without_disturbing_others(client):
    """Cancelling a job id that does not exist gets an error and nothing else changes."""
    client.cancel("ghost")
    assert client.run("debug.echo", {"image": IMG}, timeout=10)


def test_client_reports_unreachable_daemon_clearly():
    """With no daemon, requests fail fast with a message that says how to start one."""
    with Client("tcp://127.0.0.1:9", timeout=0.5) as client:
        with pytest.raises(ConnectionError, match="muselink serve"):
            client.hello()


def test_event_loop_client_gets_every_reply_through_its_file_descriptor(client):
    """The non-blocking API: wait on fileno() (as a Qt socket notifier does), drain, never block."""
    import select

    seen = []
    handle = client.submit("debug.echo", {"image": IMG}, {"steps": 5, "delay": 0.02}, on_event=seen.append)
    deadline = time.monotonic() + 10
    while not handle.done and time.monotonic() < deadline:
        select.select(client.fds(), [], [], 0.1)  # edge-triggered: drain everything each wake-up
        started = time.perf_counter()
        client.drain()
        assert time.perf_counter() - started < 0.05
    assert [type(e).__name__ for e in seen] == ["Accepted"] + ["Progress"] * 5 + ["Result"]


def test_daemon_serves_on_an_ipc_endpoint(daemon_factory, client_factory, tmp_path):
    """ipc:// endpoints work like loopback TCP."""
    endpoint, _ = daemon_factory(endpoint=f"ipc://{tmp_path}/muselink.sock")
    client = client_factory(endpoint)
    assert client.hello().protocol == P.PROTOCOL_VERSION
    assert client.run("debug.echo", {"image": IMG}, timeout=10).payloads["image"].width == 64

"""Hardening: dead clients free their lanes, busy clients are not mistaken for dead, queues are bounded,
and a terminal reply is never replaced by a synthesised disconnect."""
import json
import textwrap
import time

import numpy as np
import pytest
import zmq

from muselink.bridge import protocol as P
from muselink.bridge.client import Client
from muselink.bridge.payloads import ImageData

IMG = ImageData.from_numpy(np.zeros((16, 16, 4), np.uint8))

DOOMED_CLIENT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from muselink.bridge.client import Client
    from muselink.bridge.payloads import ImageData
    client = Client(sys.argv[1], name="doomed")
    client.hello()
    img = ImageData.from_numpy(np.zeros((16, 16, 4), np.uint8))
    handle = client.submit("debug.work", {"image": img}, {"steps": 2000, "delay": 0.05})
    queued = client.submit("debug.work", {"image": img}, {"steps": 2000, "delay": 0.05})
    while handle.progress() is None:
        client.poll(0.05)
    print("running", flush=True)
    time.sleep(600)
""")


def test_client_killed_mid_job_has_its_jobs_cancelled_and_frees_the_lane(daemon, client_factory, kill_client_mid_job):
    """A client SIGKILLed while its heavy job runs (and another waits) is noticed, both its jobs are cancelled,
    and another client's heavy job runs within 10 s of the kill."""
    killed = kill_client_mid_job(DOOMED_CLIENT, daemon)
    other = client_factory(daemon, name="survivor")
    result = other.run("debug.work", {"image": IMG}, {"steps": 1}, timeout=30)
    assert isinstance(result, P.Result)
    assert time.monotonic() - killed < 10
    lanes = other.status().lanes
    assert lanes["heavy"]["running"] == 0 and lanes["heavy"]["queued"] == 0


@pytest.mark.slow
def test_client_busy_longer_than_the_heartbeat_timeout_keeps_its_job(client):
    """A client whose thread does not touch the socket for 7 s (past the 5 s heartbeat timeout) still gets its
    result: heartbeats are answered by libzmq's I/O thread, not the host's busy thread."""
    handle = client.submit("debug.work", {"image": IMG}, {"steps": 20, "delay": 0.25})
    time.sleep(7)  # a long Blender operator, Krita painting: no drain() at all
    assert isinstance(client.wait(handle, 20), P.Result)


def test_queued_jobs_per_client_are_bounded_with_a_clear_error(daemon_factory, client_factory):
    """Past --max-queued waiting jobs a submit is refused with queue_full naming the limit; other clients
    are served; a live-session submit still supersedes its queued job."""
    endpoint, _ = daemon_factory("--max-queued", "3")
    client = client_factory(endpoint, name="flood")
    running = client.submit("debug.work", {"image": IMG}, {"steps": 400, "delay": 0.05})
    while running.progress() is None:  # running, so no longer counted as queued
        client.poll(0.05)
    live = client.submit("debug.work", {"image": IMG}, session="live")
    queued = [client.submit("debug.work", {"image": IMG}) for _ in range(2)]
    refused = client.submit("debug.work", {"image": IMG})
    assert isinstance(client.wait(refused, 10), P.Error)
    assert refused.terminal.code == "queue_full" and "--max-queued 3" in refused.terminal.message
    newer = client.submit("debug.work", {"image": IMG}, session="live")
    assert isinstance(client.wait(live, 10), P.Cancelled) and "superseded" in live.terminal.reason
    other = client_factory(endpoint, name="other")
    assert isinstance(other.run("debug.echo", {"image": IMG}, timeout=10), P.Result)
    for handle in (*queued, newer, running):
        client.cancel(handle.id)
        assert isinstance(client.wait(handle, 10), P.Cancelled)


@pytest.fixture
def fake_daemon():
    """A bare ROUTER socket standing in for the daemon (the test answers, or not, and closes it), and a Client of it."""
    fake = zmq.Context.instance().socket(zmq.ROUTER)
    port = fake.bind_to_random_port("tcp://127.0.0.1")
    client = Client(f"tcp://127.0.0.1:{port}", name="t", timeout=5)
    try:
        yield fake, client
    finally:
        client.close()
        fake.close(linger=0)  # a no-op once the test has closed it


@pytest.mark.parametrize("attempt", range(20))
def test_terminal_reply_sent_before_the_daemon_closed_is_delivered_not_replaced(attempt, fake_daemon):
    """A 'daemon' that answers `cancelled` and closes at once: the job ends `cancelled`, never `disconnected`,
    even when the client first looks after both the reply and the disconnect have arrived."""
    fake, client = fake_daemon
    handle = client.submit("debug.work")
    identity, *_ = fake.recv_multipart()
    for message in (P.Accepted(job=handle.id, lane="heavy"), P.Cancelled(job=handle.id, reason="daemon shutting down")):
        fake.send_multipart([identity, *P.encode(message)])
    fake.close(linger=1000)
    time.sleep(0.3)  # the disconnect event and the replies are both waiting before the first drain
    assert isinstance(client.wait(handle, 5), P.Cancelled), handle.events


def test_jobs_of_a_vanished_daemon_still_end_as_disconnected(fake_daemon):
    """With no reply at all, a job in flight when the connection drops ends as `disconnected` promptly."""
    fake, client = fake_daemon
    handle = client.submit("debug.work")
    fake.recv_multipart()
    fake.close(linger=0)
    started = time.monotonic()
    reply = client.wait(handle, 5)
    assert isinstance(reply, P.Error) and reply.code == "disconnected" and time.monotonic() - started < 2


def test_result_metadata_json_cannot_carry_reaches_the_client_as_null(client):
    """Non-finite floats in a result's metadata arrive as null instead of breaking the reply."""
    from muselink.core.daemon import jsonable

    assert jsonable({"loss": float("nan"), "x": [1.5, float("inf")], "k": (1, 2)}) == {"loss": None, "x": [1.5, None], "k": [1, 2]}
    assert json.dumps(jsonable({"obj": object()}))

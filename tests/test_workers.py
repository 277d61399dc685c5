"""Worker processes: crash isolation, memory caps, hard cancel, supervision and status."""
import textwrap
import time

import numpy as np
import pytest

from muselink.bridge import protocol as P
from muselink.bridge.payloads import ImageData

IMG = ImageData.from_numpy(np.zeros((16, 16, 4), np.uint8))


def worker(client, name):
    return next(w for w in client.status().workers if w["name"] == name)


def wait_for(predicate, timeout=30.0, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


@pytest.mark.parametrize("mode", ["segfault", "abort"])
def test_native_crash_ends_only_that_job_and_the_worker_restarts(mode, daemon, client_factory):
    """A capability that segfaults or aborts ends its job with worker_crashed naming it; a job in another lane
    finishes normally meanwhile; the worker restarts and takes the next job."""
    client = client_factory(daemon)
    other = client.submit("debug.echo", {"image": IMG}, {"steps": 10, "delay": 0.1})
    crashed = client.submit("debug.crash", {}, {"mode": mode})
    reply = client.wait(crashed, 30)
    assert isinstance(reply, P.Error) and reply.code == "worker_crashed", reply
    assert "debug.crash" in reply.message and ("SIGSEGV" in reply.message or "SIGABRT" in reply.message)
    assert isinstance(client.wait(other, 30), P.Result)
    assert wait_for(lambda: worker(client, "heavy-0")["state"] == "idle")
    assert worker(client, "heavy-0")["restarts"] == 1
    assert isinstance(client.run("debug.work", {"image": IMG}, {"steps": 1}, timeout=30), P.Result)
    assert client.ping() < 1.0


def test_job_over_the_worker_memory_cap_ends_out_of_memory(daemon_factory, client_factory):
    """With --worker-memory, a job that keeps allocating ends out_of_memory (not a dead daemon) and the next job runs."""
    endpoint, _ = daemon_factory("--worker-memory", "400M")
    client = client_factory(endpoint)
    reply = client.wait(client.submit("debug.crash", {}, {"mode": "memory", "megabytes": 4096}), 60)
    assert isinstance(reply, P.Error) and reply.code == "out_of_memory", reply
    assert "400 MiB" in reply.message and "--worker-memory" in reply.message
    assert isinstance(client.run("debug.work", {"image": IMG}, {"steps": 1}, timeout=60), P.Result)


def test_cancel_of_a_job_stuck_in_a_step_restarts_its_worker_and_answers_cancelled(daemon_factory, client_factory):
    """A job that never reaches its next step is stopped by killing its worker after the grace period; it ends
    `cancelled`, and the lane works again."""
    endpoint, _ = daemon_factory("--cancel-grace", "1")
    client = client_factory(endpoint)
    stuck = client.submit("debug.crash", {}, {"mode": "hang", "seconds": 120})
    assert wait_for(lambda: (client.poll(0.05), stuck.progress())[1] is not None, 30, every=0)
    started = time.monotonic()
    client.cancel(stuck.id)
    reply = client.wait(stuck, 10)
    assert isinstance(reply, P.Cancelled) and "restarted" in reply.reason
    assert time.monotonic() - started < 4
    assert isinstance(client.run("debug.work", {"image": IMG}, {"steps": 1}, timeout=60), P.Result)


STUCK_CLIENT = textwrap.dedent("""
    import sys
    from muselink.bridge.client import Client
    client = Client(sys.argv[1], name="stuck")
    handle = client.submit("debug.crash", {}, {"mode": "hang", "seconds": 300})
    while handle.progress() is None:
        client.poll(0.05)
    print("running", flush=True)
    import time; time.sleep(600)
""")


def test_dead_client_with_a_job_stuck_in_a_step_frees_the_lane_within_ten_seconds(daemon, client_factory, kill_client_mid_job):
    """A client killed while its job ignores cancel: the job is cancelled, its worker restarted after the grace
    period, and another client's heavy job runs within 10 s of the kill."""
    killed = kill_client_mid_job(STUCK_CLIENT, daemon)
    result = client_factory(daemon, name="next").run("debug.work", {"image": IMG}, {"steps": 1}, timeout=30)
    assert isinstance(result, P.Result) and time.monotonic() - killed < 10


def test_status_shows_every_worker_with_pid_state_restarts_models_and_memory(client):
    """Each lane has its own worker process; after a style job the image worker lists its model and RSS."""
    client.run("style.fast", {"image": ImageData.from_numpy(np.zeros((64, 64, 3), np.uint8))}, {"size": 64}, timeout=60)
    status = client.status()
    workers = {w["name"]: w for w in status.workers}
    assert {"interactive-0", "image-0", "heavy-0"} <= set(workers)
    assert len({w["pid"] for w in workers.values()}) == len(workers)  # one process each
    image = workers["image-0"]
    assert image["state"] == "idle" and image["restarts"] == 0 and image["rss_bytes"] > 10 << 20
    assert image["models"] and not workers["interactive-0"]["models"]  # loaded where it ran, only there
    assert status.lanes["image"]["workers"] == 1


def test_heavy_lane_workers_run_at_lower_priority(client):
    """The heavy lane's worker is niced, so the interactive lane always finds a core."""
    import os

    workers = {w["name"]: w for w in client.status().workers}
    assert wait_for(lambda: all(w["pid"] for w in client.status().workers))
    workers = {w["name"]: w for w in client.status().workers}
    assert os.getpriority(os.PRIO_PROCESS, workers["heavy-0"]["pid"]) > os.getpriority(os.PRIO_PROCESS, workers["interactive-0"]["pid"])


def test_each_worker_has_a_session_of_its_own_whose_group_carries_the_lanes_nice(client):
    """Each worker leads its own session (its own CPU share where Linux groups by session), and where autogroup
    exists the heavy and image lanes' groups are niced too, so they give way to the hosts and not only to other lanes."""
    import os

    assert wait_for(lambda: all(w["pid"] for w in client.status().workers))
    workers = {w["name"]: w["pid"] for w in client.status().workers}
    assert all(os.getsid(pid) == pid for pid in workers.values()), workers
    if os.path.exists(f"/proc/{workers['heavy-0']}/autogroup"):
        def group_nice(pid: int) -> int:
            with open(f"/proc/{pid}/autogroup") as fh:
                return int(fh.read().split("nice")[1])

        assert group_nice(workers["heavy-0"]) == 10 and group_nice(workers["image-0"]) == 4
        # the latency lane's is raised where this user may (root here; an audio group's nice limit elsewhere)
        assert group_nice(workers["interactive-0"]) in ((-5,) if os.geteuid() == 0 else (0, -5))


def test_lanes_option_sets_worker_counts_and_keeps_each_lanes_defaults():
    """--lanes heavy=4 means four heavy workers, still niced; other lanes keep one; bad items name the problem."""
    from muselink.core.config import default_lanes, parse_lanes

    lanes = parse_lanes("heavy=4,extra=2")
    assert lanes["heavy"].workers == 4 and lanes["heavy"].nice == default_lanes()["heavy"].nice
    assert lanes["interactive"].workers == 1 and lanes["extra"].workers == 2
    for bad in ("heavy", "heavy=0", "=2", "heavy=two"):
        with pytest.raises(ValueError, match="lane=N"):
            parse_lanes(bad)


def test_a_latency_lane_job_pauses_the_other_lanes_workers_only_while_it_runs(daemon, client_factory):
    """While a MIDI-lane (interactive) job runs, the heavy lane's busy worker is stopped (state T) and shown as
    paused; it continues when that job ends and its own job finishes normally."""
    client = client_factory(daemon)
    assert wait_for(lambda: all(w["pid"] for w in client.status().workers))
    heavy_pid = worker(client, "heavy-0")["pid"]

    def state(pid):
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]

    long = client.submit("debug.work", {"image": IMG}, {"steps": 40, "delay": 0.05})
    assert wait_for(lambda: (client.poll(0.05), long.progress())[1] is not None, 30, every=0)
    quick = client.submit("debug.echo", {"image": IMG}, {"steps": 8, "delay": 0.1})
    assert wait_for(lambda: state(heavy_pid) == "T", 5, every=0.02), "the heavy worker was not paused"
    assert worker(client, "heavy-0")["paused"] is True
    assert isinstance(client.wait(quick, 30), P.Result)
    assert wait_for(lambda: state(heavy_pid) != "T", 5, every=0.02), "the heavy worker was not continued"
    assert isinstance(client.wait(long, 30), P.Result)
    assert worker(client, "heavy-0")["paused"] is False

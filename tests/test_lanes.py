"""Lanes: per-client fairness, live-mode supersede, removal of queued jobs."""
from muselink.core.capability import Capability, JobOutput
from muselink.core.lanes import Job, Lane

CAP = Capability(name="t", summary="", run=lambda *a: JobOutput({}))


def job(client: bytes, jid: str, session=None) -> Job:
    return Job(identity=client, job_id=jid, capability=CAP, params={}, payloads={}, session=session)


def test_clients_take_turns_within_a_lane():
    """A client with many queued jobs does not starve another client: order is round robin."""
    lane = Lane("t")
    for i in range(3):
        lane.submit(job(b"A", f"a{i}"))
    lane.submit(job(b"B", "b0"))
    lane.submit(job(b"B", "b1"))
    order = []
    while (j := lane.next()) is not None:
        assert j.state == "running"
        order.append(j.job_id)
    assert order == ["a0", "b0", "a1", "b1", "a2"]


def test_newer_request_of_a_session_supersedes_the_queued_one():
    """Live mode: a queued job of the same client and session is replaced (latest wins)."""
    lane = Lane("t")
    first, other = job(b"A", "1", session="live"), job(b"B", "x", session="live")
    lane.submit(first)
    lane.submit(other)
    _, superseded = lane.submit(job(b"A", "2", session="live"))
    assert superseded == [first]
    assert lane.queued() == 2  # B's job of the same session name is untouched


def test_removing_a_queued_job_takes_it_out_of_the_queue():
    """remove() drops a queued job and reports False for one never queued."""
    lane = Lane("t")
    a = job(b"A", "1")
    lane.submit(a)
    assert lane.remove(a) is True
    assert lane.remove(a) is False
    assert lane.queued() == 0


def test_a_job_ends_only_once():
    """finish() is true for exactly one caller, so a job gets exactly one terminal reply."""
    j = job(b"A", "1")
    assert [j.finish() for _ in range(3)] == [True, False, False]

"""Structured fuzzing (Hypothesis): every decoder is total and no message can stop the daemon."""
import json
import math
import time

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz.strategies import CLIENT_COMMANDS, messages
from muselink.bridge import protocol as P
from muselink.bridge.client import Client
from muselink.bridge.fields import ProtocolError
from muselink.core.capability import Param

def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, database=None, deadline=None, suppress_health_check=list(HealthCheck))


@fuzz_settings(1500)
@given(messages())
def test_decoders_turn_any_structured_message_into_a_message_or_a_named_error(frames):
    """Decoding any mutated message on either side returns a message or raises ProtocolError with a code."""
    for registry in (P.CLIENT_MESSAGES, P.DAEMON_MESSAGES):
        try:
            P.decode(frames, registry)
        except ProtocolError as exc:
            assert exc.code and exc.message and len(exc.message) < 2000


@fuzz_settings(300)
@given(st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=8), st.booleans(), st.none(),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
def test_every_parameter_type_coerces_or_names_the_parameter(value):
    """Param.coerce of any JSON value returns a clean value or raises ValueError naming the parameter."""
    for param in (Param("n", "int", 0, min=0, max=10), Param("x", "float", 0.0, min=0, max=1), Param("s", "str", ""),
                  Param("b", "bool", False), Param("c", "choice", "a", choices=("a", "b")), Param("w", "weights", None,
                  choices=("a", "b")), Param("seed", "seed", None)):
        try:
            clean = param.coerce(value)
        except ValueError as exc:
            assert param.name in str(exc)
        else:
            assert not (isinstance(clean, float) and not math.isfinite(clean))


@pytest.fixture
def raw_socket(daemon):
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(daemon)
    yield sock
    sock.close(linger=0)


def replies_until_pong(sock, nonce: int, timeout: float = 10.0) -> list:
    """Every reply up to the Pong for ``nonce`` (which proves the daemon is still serving)."""
    got, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sock.poll(int((deadline - time.monotonic()) * 1000) + 1):
            break
        reply = P.decode(sock.recv_multipart(), P.DAEMON_MESSAGES)
        if isinstance(reply, P.Pong) and reply.nonce == nonce:
            return got
        got.append(reply)
    raise AssertionError(f"the daemon stopped answering (no pong {nonce}); replies so far: {got[-3:]}")


@pytest.mark.slow
def test_no_structured_message_stops_a_real_daemon_or_gets_an_internal_error(raw_socket):
    """A real daemon answers a ping after each of a few hundred hostile messages, and every reply is a named error or a
    normal answer, never 'internal'."""
    nonce = iter(range(1, 1_000_000))

    @fuzz_settings(250)
    @given(messages(CLIENT_COMMANDS))
    def send_one(frames):
        raw_socket.send_multipart(frames)
        n = next(nonce)
        raw_socket.send_multipart(P.encode(P.Ping(nonce=n)))
        for reply in replies_until_pong(raw_socket, n):
            assert not (isinstance(reply, P.Error) and reply.code == "internal"), reply

    send_one()


# ---- regression tests: every way the structured fuzzer ever stopped the daemon -------------------------------

@pytest.mark.parametrize("body", [
    b'{"client": "x", "protocol": Infinity}',  # int(inf): OverflowError in the hello decoder
    b'{"client": "x", "protocol": NaN}',
    b'{"nonce": -Infinity}',
    ("[" * 5000 + "]" * 5000).encode(),  # RecursionError in json
    ('{"job": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}").encode(),
])
def test_non_finite_numbers_and_deep_nesting_are_bad_json_not_a_crash(body):
    """NaN/Infinity tokens and nesting past the limit are refused as bad_json or bad_message."""
    for command in (b"hello", b"ping"):
        with pytest.raises(ProtocolError) as info:
            P.decode([P.TAG, command, body], P.CLIENT_MESSAGES)
        assert info.value.code in ("bad_json", "bad_message")


@pytest.mark.parametrize("desc", [
    {"dtype": []}, {"dtype": {}}, {"width": 1e300}, {"width": True}, {"stride": "16"}, {"channels": None},
    {"frame": True}, {"frame": 1.0}, {"width": 2**70},
])
def test_hostile_image_description_fields_are_named_errors(desc):
    """Unhashable, boolean, float or huge values in an image description name the field instead of raising TypeError."""
    base = {"kind": "image", "width": 4, "height": 2, "channels": 4, "dtype": "uint8", "stride": 16, "frame": 0}
    header = {"job": "j", "capability": "debug.echo", "payloads": {"image": {**base, **desc}}}
    with pytest.raises(ProtocolError) as info:
        P.decode([P.TAG, b"submit", json.dumps(header).encode(), bytes(32)], P.CLIENT_MESSAGES)
    assert info.value.code in ("bad_message", "frame_count") and "field" in info.value.message or "frame" in info.value.message


def test_hostile_daemon_replies_end_the_named_job_with_an_error_in_the_client():
    """A 'daemon' that answers garbage gets the client's job an error reply, never an exception."""
    ctx = zmq.Context.instance()
    fake = ctx.socket(zmq.ROUTER)
    fake.linger = 0
    port = fake.bind_to_random_port("tcp://127.0.0.1")
    client = Client(f"tcp://127.0.0.1:{port}", name="victim", timeout=5)
    try:
        handle = client.submit("debug.echo")
        identity, *_ = fake.recv_multipart()
        fake.send_multipart([identity, P.TAG, b"progress", json.dumps({"job": handle.id, "fraction": 7}).encode()])
        fake.send_multipart([identity, P.TAG, b"status", b'{"protocol": 1, "capabilities": 5}'])  # no job: counted
        deadline = time.monotonic() + 5
        while not handle.done and time.monotonic() < deadline:
            client.poll(0.05)
        assert isinstance(handle.terminal, P.Error) and handle.terminal.code == "bad_message"
        assert "fraction" in handle.terminal.message
        client.poll(0.2)
        assert client.protocol_errors == 2
    finally:
        client.close()
        fake.close(linger=0)

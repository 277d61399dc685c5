"""Security by default: loopback or ipc only, unless CurveZMQ keys are given."""
import pytest

from muselink.core.endpoints import EndpointError, check_bind, is_local


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:5757", "tcp://localhost:1", "tcp://[::1]:5", "ipc:///tmp/m.sock",
                                      "tcp://127.0.0.2:9"])
def test_loopback_and_ipc_endpoints_are_local(endpoint):
    """Loopback TCP and ipc:// count as local."""
    assert is_local(endpoint)


@pytest.mark.parametrize("endpoint", ["tcp://0.0.0.0:5757", "tcp://*:5757", "tcp://192.168.1.4:5757", "tcp://eth0:1"])
def test_exposed_endpoint_is_refused_without_curve(endpoint):
    """Binding anything reachable from other machines needs CurveZMQ; the message says how."""
    with pytest.raises(EndpointError, match="--curve-secret"):
        check_bind(endpoint, curve=False)
    check_bind(endpoint, curve=True)


def test_malformed_endpoint_is_explained():
    """A non-URL endpoint gets an example of a good one."""
    with pytest.raises(EndpointError, match="tcp://127.0.0.1:5757"):
        is_local("localhost:5757")

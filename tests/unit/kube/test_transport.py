"""The transport resends a request whose connection the server dropped (every gpufabric write is idempotent)."""

from __future__ import annotations

import socket
import threading

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import Cluster, KubeError
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import Connection


def serve(answers):
    """A loopback HTTP server: for each connection, None closes it unanswered, else sends (status, body)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    seen = []

    def run():
        for answer in answers:
            conn, _addr = listener.accept()
            seen.append(conn.recv(65536).split(b"\r\n", 1)[0].decode())
            if answer is not None:
                status, body = answer
                conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                             b"Connection: close\r\n\r\n%s" % (status, len(body), body))
            conn.close()
        listener.close()

    threading.Thread(target=run, daemon=True).start()
    return "http://127.0.0.1:%d" % listener.getsockname()[1], seen


def test_a_dropped_connection_is_retried():
    host, seen = serve([None, (200, b'{"kind": "Pool"}')])
    cluster = Cluster(Connection(host, token="t"))
    assert cluster.request("PATCH", "/apis/gpufabric.io/v1alpha1/pools/p", body={"spec": {}},
                           content_type="application/apply-patch+yaml") == {"kind": "Pool"}
    assert seen == ["PATCH /apis/gpufabric.io/v1alpha1/pools/p HTTP/1.1"] * 2


def test_server_errors_are_not_retried_and_carry_the_servers_message():
    host, seen = serve([(422, b'{"message": "spec.nodeCount: Unsupported value: 2"}')])
    with pytest.raises(KubeError) as error:
        Cluster(Connection(host, token="t")).request("GET", "/api/v1/nodes")
    assert error.value.status == 422 and "Unsupported value: 2 (HTTP 422)" in str(error.value)
    assert len(seen) == 1

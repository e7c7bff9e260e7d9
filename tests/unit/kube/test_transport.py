"""The transport: resent dropped connections, 429 / Retry-After honoured within bounds, the server's Warning
headers kept once each, 401 / 403 naming the identity, impersonation headers as separate lines on the wire."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.kube import api
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import Cluster, KubeError
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.client import Connection


def test_a_dropped_connection_is_retried(serve):
    host, seen = serve([None, (200, b'{"kind": "Pool"}')])
    cluster = Cluster(Connection(host, token="t"))
    assert cluster.request("PATCH", "/apis/gpufabric.io/v1alpha1/pools/p", body={"spec": {}},
                           content_type="application/apply-patch+yaml") == {"kind": "Pool"}
    assert [line for line, _headers in seen] == ["PATCH /apis/gpufabric.io/v1alpha1/pools/p HTTP/1.1"] * 2


def test_server_errors_are_not_retried_and_carry_the_servers_message(serve):
    host, seen = serve([(422, b'{"message": "spec.nodeCount: Unsupported value: 2"}')])
    with pytest.raises(KubeError) as error:
        Cluster(Connection(host, token="t")).request("GET", "/api/v1/nodes")
    assert error.value.status == 422 and "Unsupported value: 2 (HTTP 422)" in str(error.value)
    assert len(seen) == 1


def test_429_is_sent_again_after_retry_after_and_reported_as_one_warning(serve, monkeypatch):
    waits = []
    monkeypatch.setattr(api.time, "sleep", waits.append)
    host, seen = serve([(429, b'{"message": "Too many requests"}', ["Retry-After: 2"]),
                        (429, b'{"message": "Too many requests"}', ["Retry-After: 1"]),
                        (200, b'{"items": [{"metadata": {"name": "n1"}}]}')])
    cluster = Cluster(Connection(host, token="t"))
    assert [node["metadata"]["name"] for node in cluster.list("Node")] == ["n1"]
    assert len(seen) == 3 and waits == [2.0, 1.0]
    assert cluster.warnings == ["the API server at %s asked 2 time(s) to slow down (HTTP 429 or Retry-After), first "
                                "for GET /api/v1/nodes; gpufabric waited 3 s in all, as Retry-After asked, and "
                                "retried" % host]


def test_a_long_retry_after_is_cut_and_the_retries_are_bounded(serve, monkeypatch):
    waits = []
    monkeypatch.setattr(api.time, "sleep", waits.append)
    busy = (503, b'{"message": "shutting down"}', ["Retry-After: 3600"])
    host, seen = serve([busy] * (api.THROTTLE_RETRIES + 1))
    with pytest.raises(KubeError, match=r"still refused GET /api/v1/nodes with HTTP 503 after 5 retries") as error:
        Cluster(Connection(host, token="t")).request("GET", "/api/v1/nodes")
    assert error.value.status == 503
    assert len(seen) == api.THROTTLE_RETRIES + 1 and waits == [api.MAX_RETRY_AFTER] * api.THROTTLE_RETRIES


def test_a_5xx_without_retry_after_is_an_answer_not_a_wait(serve, monkeypatch):
    monkeypatch.setattr(api.time, "sleep", lambda seconds: pytest.fail("slept %s s" % seconds))
    host, seen = serve([(500, b'{"message": "etcdserver: request timed out"}')])
    with pytest.raises(KubeError, match="request timed out .HTTP 500."):
        Cluster(Connection(host, token="t")).request("GET", "/api/v1/nodes")
    assert len(seen) == 1


def test_the_servers_warning_headers_are_kept_once_each_in_order(serve):
    deprecated = '299 - "networking.k8s.io/v1beta1 Ingress is deprecated in v1.19+, use \\"v1\\""'
    host, _seen = serve([(200, b"{}", ["Warning: " + deprecated, 'Warning: 299 - "second"']),
                         (200, b"{}", ["Warning: " + deprecated])])
    cluster = Cluster(Connection(host, token="t"))
    cluster.request("GET", "/a")
    cluster.request("GET", "/b")
    assert cluster.warnings == ['networking.k8s.io/v1beta1 Ingress is deprecated in v1.19+, use "v1"', "second"]


def test_401_names_whose_credentials_were_refused_and_what_to_check(serve):
    host, _seen = serve([(401, b'{"message": "Unauthorized"}')])
    connection = Connection(host, token="t", identity='user "ghost" of context "c" in kubeconfig /k/config',
                            advice='check that the token of user "ghost" is current')
    with pytest.raises(KubeError) as error:
        Cluster(connection).request("GET", "/api/v1/nodes")
    assert str(error.value) == ('Unauthorized (HTTP 401); the API server at %s did not accept the credentials of '
                                'user "ghost" of context "c" in kubeconfig /k/config: check that the token of user '
                                '"ghost" is current' % host)


def test_403_names_the_identity_and_the_role_it_needs(serve):
    body = b'{"message": "pools.gpufabric.io is forbidden: User \\"bob\\" cannot list resource \\"pools\\""}'
    host, _seen = serve([(403, body)])
    with pytest.raises(KubeError) as error:
        Cluster(Connection(host, token="t", identity='user "bob" of context "bob" in kubeconfig /k')).list("Pool")
    assert 'User "bob" cannot list' in str(error.value)
    assert 'made as user "bob" of context "bob" in kubeconfig /k' in str(error.value)
    assert "gpufabric-operator ClusterRole" in str(error.value)


def test_impersonation_and_authorization_headers_on_the_wire(serve):
    host, seen = serve([(200, b"{}")])
    connection = Connection(host, authorization="Basic YW5uOnB3",
                            impersonate={"user": "ann", "groups": ["ml-team", "ops"], "extra": {"scopes": ["a b"]}})
    Cluster(connection).request("GET", "/api/v1/nodes")
    headers = [line.lower() for line in seen[0][1]]
    assert "authorization: basic yw5uonb3" in headers
    assert "impersonate-user: ann" in headers
    assert [line for line in headers if line.startswith("impersonate-group:")] == \
        ["impersonate-group: ml-team", "impersonate-group: ops"]
    assert "impersonate-extra-scopes: a b" in headers


def test_an_unreachable_server_names_the_proxy_without_its_password():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    connection = Connection("https://kubernetes:6443", token="t", proxy="http://u:hunter2@127.0.0.1:%d" % port)
    connection.retries = connection.retries.new(total=0, connect=0)
    with pytest.raises(KubeError) as error:
        Cluster(connection).request("GET", "/api/v1/nodes")
    assert "through proxy http://u:***@127.0.0.1:%d" % port in str(error.value)
    assert "hunter2" not in str(error.value)

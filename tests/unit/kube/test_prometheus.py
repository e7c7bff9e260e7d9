"""The Prometheus client against a loopback endpoint: the request it sends, TLS verification by default, and the
errors it raises (each naming the server and the query, never the token)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest

from ansible_collections.gpufabric.platform.plugins.module_utils.prometheus import Prometheus, PrometheusError

QUERY = 'avg(DCGM_FI_DEV_GPU_UTIL{Hostname=~"g0|g1"})'
MATRIX = {"status": "success", "data": {"resultType": "matrix", "result": [
    {"metric": {}, "values": [[1705314000, "91"], [1705314030, "93.5"]]}]}}


def test_a_range_query_with_a_bearer_token_returns_the_series(serve):
    url, seen = serve([(200, json.dumps(MATRIX).encode())])
    result = Prometheus(url + "/prom/", token="t0ken").query_range(QUERY, 1705314000, 1705314600, 30)
    assert result == MATRIX["data"]["result"]
    line, headers = seen[0]
    target = urlparse(line.split()[1])
    assert target.path == "/prom/api/v1/query_range"
    assert parse_qs(target.query) == {"query": [QUERY], "start": ["1705314000"], "end": ["1705314600"],
                                      "step": ["30s"]}
    assert "Authorization: Bearer t0ken" in headers


def test_certificates_are_verified_unless_turned_off():
    assert Prometheus("https://p.example").pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
    pinned = Prometheus.from_options({"url": "https://p.example", "ca_cert": "/etc/ca.pem"})
    assert pinned.pool.connection_pool_kw["ca_certs"] == "/etc/ca.pem"
    off = Prometheus.from_options({"url": "https://p.example", "validate_certs": False})
    assert off.pool.connection_pool_kw["cert_reqs"] == "CERT_NONE"


@pytest.mark.parametrize("answer,expected", [
    ((401, b"Unauthorized"), "Prometheus at {url} answered HTTP 401 to the query with an answer that is not "
                             "Prometheus's JSON API: Unauthorized; the token given (autoscale.prometheus.token) was "
                             "refused; the autoscaler decided nothing and nothing was written"),
    ((400, json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}).encode()),
     "Prometheus at {url} answered HTTP 400 to the query with bad_data: parse error; the autoscaler decided nothing "
     "and nothing was written"),
    ((200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()),
     "Prometheus at {url} answered the query with a vector, not a matrix of series; the autoscaler decided nothing "
     "and nothing was written"),
])
def test_a_refusal_or_another_answer_names_the_server_and_the_query_and_never_the_token(serve, answer, expected):
    url, unused = serve([answer])
    with pytest.raises(PrometheusError) as caught:
        Prometheus(url, token="t0ken").query_range(QUERY, 0, 600, 30, "the query")
    assert str(caught.value) == expected.format(url=url)
    assert "t0ken" not in str(caught.value)


def test_an_unreachable_server_names_itself_and_the_query(serve):
    url, unused = serve([None, None, None])  # every connection closed unanswered
    with pytest.raises(PrometheusError) as caught:
        Prometheus(url, timeout=2).query_range(QUERY, 0, 600, 30, "the query")
    assert str(caught.value).startswith("cannot reach Prometheus at %s for the query: " % url)
    assert str(caught.value).endswith("; the autoscaler decided nothing and nothing was written")

# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""A Prometheus server's HTTP API, for the autoscaler's range queries (core.metrics says which).

Options in the style of the API server connection: `url`, a bearer `token` (never logged or printed), `ca_cert`
and `validate_certs` (verification on unless turned off), and a `timeout` in seconds. Every failure is a
PrometheusError naming the server and the query, so the run stops before planning and writes nothing.
"""

from __future__ import annotations

import json

try:
    from urllib.parse import urlencode
except ImportError:  # pragma: no cover
    from urllib import urlencode

from ansible_collections.gpufabric.platform.plugins.module_utils.core.metrics import (
    metrics_queries, samples_from_series)
from ansible_collections.gpufabric.platform.plugins.module_utils.kube.api import KubeError

QUERY_RANGE = "/api/v1/query_range"


class PrometheusError(KubeError):
    """A query could not be answered: the server was unreachable, refused it, or answered something else."""


class Prometheus(object):
    """One Prometheus server: its URL (with any path prefix it is served under) and a pool of connections."""

    def __init__(self, url, token=None, ca_cert=None, validate_certs=True, timeout=30):
        import urllib3

        self.url = str(url).rstrip("/")
        self.timeout = timeout
        self._authorization = "Bearer " + token if token else None
        tls = {"cert_reqs": "CERT_REQUIRED" if validate_certs else "CERT_NONE"}
        if validate_certs and ca_cert:
            tls["ca_certs"] = ca_cert
        if not validate_certs:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.pool = urllib3.PoolManager(maxsize=2, **tls)
        self.retries = urllib3.Retry(total=2, connect=2, read=1, status=0, other=0, redirect=0,
                                     backoff_factor=0.2, raise_on_status=False)

    @classmethod
    def from_options(cls, options):
        """From an autoscale.prometheus option dict (url, token, ca_cert, validate_certs, timeout)."""
        return cls(options["url"], options.get("token"), options.get("ca_cert"),
                   options.get("validate_certs", True) is not False, options.get("timeout") or 30)

    def query_range(self, query, start, end, step, described=None):
        """The `result` of a range query (a list of series, each {metric, values: [[time, "value"], ...]}).
        described: how errors name the query (default: the query itself)."""
        described = described or "query %s" % query
        headers = {"Accept": "application/json"}
        if self._authorization:
            headers["Authorization"] = self._authorization
        arguments = [("query", query), ("start", str(start)), ("end", str(end)), ("step", "%ds" % step)]
        url = "%s%s?%s" % (self.url, QUERY_RANGE, urlencode(arguments))
        try:
            response = self.pool.request("GET", url, headers=headers, retries=self.retries, timeout=self.timeout)
        except Exception as error:  # urllib3: connection refused, TLS verification, timeouts
            text = "cannot reach Prometheus at %s for %s: %s" % (self.url, described, error)
            if "CERTIFICATE_VERIFY_FAILED" in str(error) or "Hostname mismatch" in str(error):
                text += "; check autoscale.prometheus.ca_cert (the CA of its certificate) and the URL's host name"
            raise PrometheusError(text + "; the autoscaler decided nothing and nothing was written")
        return self._result(response, described)

    def _result(self, response, described):
        try:
            body = json.loads(response.data.decode("utf-8")) if response.data else {}
        except (UnicodeDecodeError, ValueError):
            body = None
        if response.status >= 400 or not isinstance(body, dict) or body.get("status") != "success":
            if isinstance(body, dict) and body.get("error"):
                why = "%s: %s" % (body.get("errorType") or "error", body["error"])
            else:
                raw = (response.data or b"").decode("utf-8", "replace").strip()
                why = "an answer that is not Prometheus's JSON API: %s" % (raw[:200] or "(empty)")
            text = "Prometheus at %s answered HTTP %d to %s with %s" % (self.url, response.status, described, why)
            if response.status in (401, 403):
                text += ("; %s" % ("the token given (autoscale.prometheus.token) was refused" if self._authorization
                                   else "it wants credentials: give autoscale.prometheus.token"))
            raise PrometheusError(text + "; the autoscaler decided nothing and nothing was written", response.status)
        data = body.get("data") or {}
        if data.get("resultType") != "matrix":
            raise PrometheusError("Prometheus at %s answered %s with a %s, not a matrix of series; the autoscaler "
                                  "decided nothing and nothing was written"
                                  % (self.url, described, data.get("resultType") or "result of no type"))
        return data.get("result") or []


def read_utilization(spec, state, now):
    """What a plan's context carries as `metrics` (((namespace, name), samples), ...): the utilization each of the
    spec's compute pools that autoscale from Prometheus needs (core.metrics says which query), read before
    planning. Any failure raises (PrometheusError, or FabricError for an answer without series), so nothing is
    planned or written; every front end that plans calls this first."""
    found = []
    for query in metrics_queries(spec, state, now):
        series = Prometheus.from_options(query.connection).query_range(query.query, query.start, query.end,
                                                                       query.step, query.described)
        found.append((query.key, tuple(samples_from_series(query, series))))
    return tuple(found)

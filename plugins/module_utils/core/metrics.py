"""Autoscaling from Prometheus: which range query a compute pool's autoscaler needs, and its answer as samples.

The core does no I/O. Before planning, the runner asks `metrics_queries` which queries the spec's compute pools
need, sends each to its Prometheus (module_utils/prometheus.py), and hands the answers back as samples through the
plan's context (`Context.metrics`); `samples_from_series` turns an answer into the samples `autoscale.decide`
takes.

The query is GPU utilization as dcgm-exporter reports it (DCGM_FI_DEV_GPU_UTIL, percent per GPU, labelled with
the node's Hostname), averaged at each time step over every GPU of the worker pool's hosts, over the longer of
the ScalingPolicy's two windows, ending at the decision time. CPU utilization is not queried: with this source the
autoscaler decides on GPU utilization alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.machine_pools import allocation_from_status
from ansible_collections.gpufabric.platform.plugins.module_utils.core.autoscale import (
    epoch_seconds, scaling_policy_from_resource)
from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError, raise_if

GPU_UTILIZATION = "DCGM_FI_DEV_GPU_UTIL"
HOST_LABEL = "Hostname"
DEFAULT_STEP = 30  # seconds between points: dcgm-exporter's default collection interval


@dataclass(frozen=True)
class MetricsQuery:
    """One range query a compute pool's autoscaler needs. key: (namespace, name) of the compute pool; connection:
    the entry's autoscale.prometheus options (url, token, ca_cert, validate_certs, timeout); start and end in
    epoch seconds; hosts: the worker pool's hosts the query averages over."""

    key: Tuple[str, str]
    connection: dict
    query: str
    start: int
    end: int
    step: int
    hosts: Tuple[str, ...]

    @property
    def described(self):
        """How messages name the query: the query itself and its range (never the token)."""
        return "query %s over %d s to %d (step %d s)" % (self.query, self.end - self.start, self.end, self.step)

    @property
    def where(self):
        """The server and the query."""
        return "Prometheus at %s, %s" % (self.connection.get("url"), self.described)


def _regex_literal(text):
    """A host name as a PromQL regular expression matching exactly it, written inside a double-quoted string
    (RE2 metacharacters escaped with a backslash, and that backslash escaped for the string)."""
    special = set("\\.+*?()|[]{}^$")
    return "".join("\\\\" + char if char in special else char for char in text)


def utilization_query(hosts, metric=GPU_UTILIZATION):
    """avg(DCGM_FI_DEV_GPU_UTIL{Hostname=~"a|b"}): the mean over every GPU of these hosts at each step."""
    return 'avg(%s{%s=~"%s"})' % (metric, HOST_LABEL, "|".join(_regex_literal(host) for host in sorted(hosts)))


def metrics_queries(spec, state, now):
    """The range queries the spec's compute pools need before they can be planned: one per present entry whose
    autoscale names a Prometheus source and whose worker pool already has hosts (a compute pool still without
    hosts has nothing to measure; it is planned at the size it would have without autoscale). `state`: the
    cluster read (ScalingPolicy and ComputePool objects); `now`: the run's time (RFC 3339). Problems the
    planner reports anyway (no policy, an unknown worker pool) yield no query."""
    queries, errors = [], []
    for entry in spec.of("compute_pool"):
        options = (entry.params.get("autoscale") or {}) if entry.present else {}
        source = options.get("prometheus")
        if not source or entry.spec.scaling_policy_ref is None:
            continue
        compute_pool = entry.spec
        ref = dict(compute_pool.scaling_policy_ref)
        policy = state.get("ScalingPolicy", ref["name"], ref.get("namespace") or compute_pool.namespace)
        live = state.get("ComputePool", compute_pool.name, compute_pool.namespace)
        if policy is None:
            continue
        metric = ((policy.get("spec") or {}).get("metric") or "gpu")
        if metric != "gpu":
            errors.append("%s: ScalingPolicy %s scales on %s utilization, but autoscale.prometheus measures GPU "
                          "utilization (%s); set the policy's metric to gpu, or give autoscale.samples"
                          % (entry.where, ref["name"], metric, GPU_UTILIZATION))
            continue
        names = [pool.name for pool in compute_pool.managed_worker_pools]
        record = ((live or {}).get("status") or {}).get("autoscaling") or {}
        worker = options.get("worker_pool") or record.get("workerPool") or (names[:1] or [None])[0]
        current = next((pool for pool in allocation_from_status((live or {}).get("status"))
                        if pool.requirement == worker), None)
        hosts = tuple(sorted(entry_.host for entry_ in current.hosts)) if current else ()
        if not hosts:
            continue
        try:
            scaling = scaling_policy_from_resource(policy)
            end = epoch_seconds(options.get("now") or now)
        except (FabricError, ValueError) as error:
            errors.append("%s: %s" % (entry.where, error))
            continue
        window = int(max(scaling.scale_up_duration, scaling.scale_down_duration))
        step = int(source.get("step") or DEFAULT_STEP)
        queries.append(MetricsQuery((compute_pool.namespace, compute_pool.name), dict(source),
                                    utilization_query(hosts), end - window, end, step, hosts))
    raise_if(errors)
    return queries


def samples_from_series(query, series):
    """A range query's answer (the `result` of a Prometheus matrix: [{metric, values: [[time, "value"], ...]}])
    -> [(time, None, gpu)] sorted by time, the cpu figure None (not measured). An answer without any series or
    point is an error naming the server, the query and the hosts: the autoscaler never decides on no data."""
    points = []
    for item in series or ():
        for stamp, value in item.get("values") or ():
            number = float(value)
            if not math.isnan(number) and not math.isinf(number):
                points.append((int(float(stamp)), None, "%.2f" % number))
    if not points:
        raise FabricError(["%s returned no series: no %s samples for host(s) %s in that window; check that "
                           "dcgm-exporter runs on them and that Prometheus scrapes it (its series carry the node's "
                           "name as %s), or give autoscale.samples" % (
                               query.where, GPU_UTILIZATION, ", ".join(query.hosts), HOST_LABEL)])
    return sorted(points)

"""Autoscaling decision (PaletteAI's rules): strict thresholds over sustained windows, bounds, cooldown, abort.

Times are numbers (seconds, e.g. epoch) passed in by the caller; nothing here reads a clock.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.quantity import parse_quantity


@dataclass(frozen=True)
class ScalingPolicy:
    """Thresholds are utilization percentages; durations and cooldown in seconds; step hosts per action."""

    scale_up_threshold: Fraction
    scale_up_duration: Fraction
    scale_down_threshold: Fraction
    scale_down_duration: Fraction
    min_nodes: int
    max_nodes: int
    cooldown: Fraction = Fraction(0)
    abort_duration: Fraction = Fraction(0)
    step: int = 1


@dataclass(frozen=True)
class Decision:
    """action: scale-up | scale-down | abort | none; remove: hosts to drop (abort only)."""

    action: str
    target_nodes: int
    reason: str
    remove: Tuple[str, ...] = ()


def parse_scaling_policy(args):
    """{scale_up_threshold, scale_up_duration, scale_down_threshold, scale_down_duration, min_nodes, max_nodes,
    cooldown, abort_duration, step} -> ScalingPolicy; all errors together."""
    errors = []

    def number(key, default=None):
        value = args.get(key, default)
        try:
            return parse_quantity(value)
        except ValueError as exc:
            errors.append("%s: %s" % (key, exc))
            return Fraction(0)

    policy = ScalingPolicy(number("scale_up_threshold"), number("scale_up_duration"),
                           number("scale_down_threshold"), number("scale_down_duration"),
                           int(number("min_nodes", 0)), int(number("max_nodes", 0)), number("cooldown", 0),
                           number("abort_duration", 0), int(number("step", 1)))
    if not errors:
        if policy.scale_down_threshold >= policy.scale_up_threshold:
            errors.append("scale_down_threshold %s must be below scale_up_threshold %s"
                          % (policy.scale_down_threshold, policy.scale_up_threshold))
        if policy.min_nodes > policy.max_nodes:
            errors.append("min_nodes %d is above max_nodes %d" % (policy.min_nodes, policy.max_nodes))
        if policy.step < 1:
            errors.append("step %d must be at least 1" % policy.step)
    raise_if(errors)
    return policy


def epoch_seconds(timestamp):
    """RFC 3339 text as Kubernetes writes it ('2024-01-15T10:30:00Z') -> whole seconds since the epoch
    (fractional seconds are dropped), so callers can pass statusUpdatedAt values to decide()."""
    text = str(timestamp).strip().replace("Z", "+00:00")
    head, dot, tail = text.partition(".")
    if dot:
        text = head + tail.lstrip("0123456789")
    return calendar.timegm(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").utctimetuple())


def _window(samples, now, duration):
    """Samples within [now - duration, now], or None when the data does not reach back the whole window."""
    start = now - duration
    if not samples or min(sample[0] for sample in samples) > start:
        return None
    return [sample for sample in samples if start <= sample[0] <= now]


def _measured(samples):
    """(index, name) of the metrics every sample carries: cpu and gpu, or gpu alone from a source that measures
    only GPUs (its samples hold None for cpu)."""
    return [(index, metric) for index, metric in ((1, "cpu"), (2, "gpu"))
            if all(sample[index] is not None for sample in samples)]


def _percent(value):
    """A utilization for a message: whole numbers as they are, others to one decimal."""
    return str(value.numerator) if value.denominator == 1 else "%.1f" % float(value)


def decide(policy, samples, now, nodes, last_action_at=None, scaling_up_since=None, pending=()):
    """Decide one autoscaling action.

    samples: [(timestamp, cpu %, gpu %)] of average utilization (cpu None when not measured: the metrics that
    are measured decide); nodes: current node count;
    last_action_at: when the last scaling action finished (cooldown); scaling_up_since + pending
    [(host, status)]: a scale-up in progress; once it runs past abort_duration, hosts not Healthy are
    removed and Healthy ones stay. Scale-up when, for cpu or gpu, the MIN over the scale-up window is
    strictly above the threshold; scale-down when, for both, the MAX over the scale-down window is strictly
    below it. Equal never triggers. Scale-down is never aborted.
    """
    if scaling_up_since is not None:
        stuck = sorted(host for host, status in pending if status != "Healthy")
        if stuck and now - scaling_up_since > policy.abort_duration:
            return Decision("abort", nodes - len(stuck), "scale-up running for %s s, past the abort duration of "
                            "%s s: removing %d host(s) not Healthy (%s)" % (
                                now - scaling_up_since, policy.abort_duration, len(stuck), ", ".join(stuck)),
                            tuple(stuck))
        if stuck:
            return Decision("none", nodes, "scale-up in progress: waiting for %s to become Healthy"
                            % ", ".join(stuck))
    if last_action_at is not None and now - last_action_at < policy.cooldown:
        return Decision("none", nodes, "cooling down until %s" % (last_action_at + policy.cooldown))
    if nodes < policy.min_nodes:
        return Decision("scale-up", policy.min_nodes, "%d nodes is below the minimum %d" % (nodes, policy.min_nodes))
    if nodes > policy.max_nodes:
        return Decision("scale-down", policy.max_nodes, "%d nodes is above the maximum %d"
                        % (nodes, policy.max_nodes))
    up = _window(samples, now, policy.scale_up_duration)
    if up:
        for index, metric in _measured(up):
            low = min(parse_quantity(sample[index]) for sample in up)
            if low > policy.scale_up_threshold:
                if nodes >= policy.max_nodes:
                    return Decision("none", nodes, "%s utilization %s%% is above %s%% but the pool is at its "
                                    "maximum of %d nodes" % (metric, _percent(low), policy.scale_up_threshold,
                                                             nodes))
                target = min(nodes + policy.step, policy.max_nodes)
                return Decision("scale-up", target, "minimum %s utilization over %s s is %s%%, above %s%%"
                                % (metric, policy.scale_up_duration, _percent(low), policy.scale_up_threshold))
    down = _window(samples, now, policy.scale_down_duration)
    measured = _measured(down or ())
    if down and measured:
        highs = [(metric, max(parse_quantity(sample[index]) for sample in down)) for index, metric in measured]
        if all(high < policy.scale_down_threshold for unused, high in highs):
            if nodes <= policy.min_nodes:
                return Decision("none", nodes, "utilization is below %s%% but the pool is at its minimum of %d "
                                "nodes" % (policy.scale_down_threshold, nodes))
            return Decision("scale-down", max(nodes - policy.step, policy.min_nodes),
                            "maximum utilization over %s s is %s, below %s%%" % (
                                policy.scale_down_duration,
                                ", ".join("%s %s%%" % (metric, _percent(high)) for metric, high in highs),
                                policy.scale_down_threshold))
    return Decision("none", nodes, "utilization within thresholds")


def scaling_policy_from_resource(resource):
    """A ScalingPolicy object (spec as the CRD defines it) -> ScalingPolicy."""
    spec = (resource or {}).get("spec") or {}
    up, down = spec.get("scaleUp") or {}, spec.get("scaleDown") or {}
    return parse_scaling_policy({
        "scale_up_threshold": up.get("threshold", 80), "scale_up_duration": up.get("durationSeconds", 300),
        "scale_down_threshold": down.get("threshold", 20), "scale_down_duration": down.get("durationSeconds", 600),
        "min_nodes": spec.get("minNodes", 0), "max_nodes": spec.get("maxNodes", 0),
        "cooldown": spec.get("cooldownSeconds", 0), "abort_duration": spec.get("abortSeconds", 0),
        "step": up.get("step", 1)})


def parse_samples(samples):
    """[{time: RFC 3339 or epoch seconds, cpu: %, gpu: %}] -> [(seconds, cpu, gpu)] sorted by time."""
    parsed, errors = [], []
    for index, sample in enumerate(samples or ()):
        try:
            when = sample["time"]
            when = epoch_seconds(when) if isinstance(when, str) else int(when)
            parsed.append((when, parse_quantity(sample.get("cpu", 0)), parse_quantity(sample.get("gpu", 0))))
        except (KeyError, TypeError, ValueError) as exc:
            errors.append("autoscale sample %d (%r): %s" % (index, sample, exc))
    raise_if(errors)
    return sorted(parsed)


def autoscaled_spec(spec, worker_pool, target_nodes):
    """The spec with one worker pool sized to target_nodes, keeping its GPUs per node as declared."""
    from dataclasses import replace

    pools = []
    for pool in spec.worker_pools:
        if pool.name == worker_pool:
            per_node = -(-pool.gpu_count // pool.min_worker_nodes)
            pool = replace(pool, min_worker_nodes=target_nodes, gpu_count=per_node * target_nodes)
        pools.append(pool)
    return replace(spec, worker_pools=tuple(pools))


def autoscaling_record(worker_pool, decision, now, recorded=None):
    """status.autoscaling: the size the autoscaler set and its last action (time, reason). A decision to do
    nothing leaves the record as it is, so re-runs with the same samples converge."""
    if decision.action == "none":
        return dict(recorded) if recorded else {"workerPool": worker_pool, "targetNodes": decision.target_nodes}
    record = {"workerPool": worker_pool, "targetNodes": decision.target_nodes, "lastAction": decision.action,
              "lastActionAt": now, "reason": decision.reason}
    if decision.action == "scale-up":
        record["scalingUpSince"] = now
    return record

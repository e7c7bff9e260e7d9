"""Prometheus on loopback holding DCGM-exporter-shaped GPU history, for autoscaling tests.

History is backfilled with `promtool tsdb create-blocks-from openmetrics` before the server starts: blocks
written while it runs appear only at its next block reload (about a minute), so new history means a restart
(about 0.1 s), on the same port. Debian's `prometheus` package provides both programs
(tests/harness/install-packages.sh).
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, Union

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
A100 = "NVIDIA A100-SXM4-80GB"
CONFIG = "global: {scrape_interval: 30s}\nscrape_configs: []\n"

# A series' values: a function of the sample's age in seconds (0 = the end of the history), or explicit
# (unix timestamp in seconds, value) pairs.
Values = Union[Callable[[float], float], Sequence[tuple]]


def say(message: str) -> None:
    print(f"[prometheus] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Series:
    """One time series: metric name, labels in exporter order, and (timestamp seconds, value) samples."""

    metric: str
    labels: tuple
    samples: tuple

    def label(self, name: str) -> str:
        return dict(self.labels)[name]


def gpu_labels(hostname: str, gpu: int, model: str = A100) -> tuple:
    """The labels dcgm-exporter puts on a GPU's series; the UUID is stable for a host and GPU index."""
    return (("gpu", str(gpu)), ("UUID", f"GPU-{uuid.uuid5(uuid.NAMESPACE_DNS, f'{hostname}.gpu{gpu}')}"),
            ("device", f"nvidia{gpu}"), ("modelName", model), ("Hostname", hostname))


def dcgm_series(values: dict, end: float | None = None, span: float = 900, step: float = 30,
                model: str = A100, metric: str = GPU_UTIL) -> list:
    """Series for {(hostname, gpu index): values}; functions are sampled every `step` s over `span` s up to `end`.

    `end` defaults to now, so an instant query at "now" still finds the samples (Prometheus treats a series
    whose newest sample is over 5 minutes old as gone).
    """
    end = time.time() if end is None else end
    ages = [index * step for index in range(int(span // step), -1, -1)]
    series = []
    for (hostname, gpu), given in sorted(values.items()):
        if callable(given):
            samples = tuple((round(end - age, 3), float(given(age))) for age in ages)
        else:
            samples = tuple(sorted((float(stamp), float(value)) for stamp, value in given))
        series.append(Series(metric, gpu_labels(hostname, gpu, model), samples))
    return series


def openmetrics(series: Sequence) -> str:
    """The OpenMetrics text promtool reads: one `# TYPE` per metric, timestamps in seconds, a final `# EOF`."""
    lines = []
    for metric in sorted({item.metric for item in series}):
        lines.append(f"# TYPE {metric} gauge")
        for item in (item for item in series if item.metric == metric):
            labels = ",".join(f'{name}="{_escape(value)}"' for name, value in item.labels)
            for stamp, value in item.samples:
                if stamp > 1e11:
                    raise ValueError(f"{metric}{{{labels}}}: timestamp {stamp:.0f} looks like milliseconds; "
                                     f"give seconds ({stamp / 1000:.0f}), or the samples land in the far future")
                lines.append(f"{metric}{{{labels}}} {_number(value)} {stamp:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Prometheus:
    """One Prometheus server whose config, data, log, port and pid live in `state`; call it with series to start."""

    state: Path

    @property
    def data(self) -> Path:
        return self.state / "data"

    @property
    def log(self) -> Path:
        return self.state / "prometheus.log"

    @property
    def port(self) -> int:
        """Chosen at the first start and kept, so a URL handed out before a restart stays valid."""
        path = self.state / "port"
        if not path.exists():
            self.state.mkdir(parents=True, exist_ok=True)
            path.write_text(str(_free_port()))
        return int(path.read_text())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _pid(self) -> int:
        path = self.state / "pid"
        return int(path.read_text()) if path.exists() else 0

    def __call__(self, series: Sequence) -> str:
        return self.start(series)

    def start(self, series: Sequence) -> str:
        """Replace the history with `series`, (re)start the server and return its URL once it is ready."""
        for program in (PROMETHEUS, PROMTOOL):
            if not Path(program).exists():
                raise RuntimeError(f"{program} is missing; install Debian's prometheus: "
                                   "bash tests/harness/install-packages.sh")
        self.stop()
        if self.data.exists():
            shutil.rmtree(self.data)
        self.data.mkdir(parents=True)
        source = self.state / "history.om.txt"
        source.write_text(openmetrics(series))
        samples = sum(len(item.samples) for item in series)
        started = time.monotonic()
        out = subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source),
                              str(self.data)], capture_output=True, text=True, check=False)
        if out.returncode:
            raise RuntimeError(f"promtool could not backfill {len(series)} series ({samples} samples) "
                               f"from {source}: {out.stderr.strip() or out.stdout.strip()}")
        (self.state / "prometheus.yml").write_text(CONFIG)
        with open(self.log, "ab") as log:
            process = subprocess.Popen([
                PROMETHEUS, f"--config.file={self.state / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.data}", f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        (self.state / "pid").write_text(str(process.pid))
        self._wait_ready(process.pid)
        say(f"ready at {self.url} with {len(series)} series, {samples} samples "
            f"(backfill and start {time.monotonic() - started:.1f} s)")
        return self.url

    def stop(self) -> None:
        """Stop exactly the server this state started (SIGTERM, then SIGKILL after 5 s)."""
        pid = self._pid()
        if pid and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if pid:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass  # not our child (or already reaped)
            (self.state / "pid").unlink()

    def _wait_ready(self, pid: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if not _alive(pid):
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"prometheus (pid {pid}) exited during start-up on port {self.port}; log:\n{tail}")
            time.sleep(0.05)
        raise RuntimeError(f"prometheus (pid {pid}) not ready at {self.url} after {timeout:.0f} s; see {self.log}")

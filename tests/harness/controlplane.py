"""A real local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager and kube-scheduler on
loopback.

TLS stays on (the apiserver's self-signed certificate is the kubeconfig's CA), requests are authenticated
by a static token file and authorized by RBAC, and every request lands in a JSON audit log, which is how
the tests count writes. The controllers make it behave like a cluster: namespaces finish deleting,
Deployments get pods, the scheduler binds pods to Nodes by selector and `nvidia.com/gpu`, ResourceQuota
status is counted. No kubelet runs: bound pods stay Pending, and only a grace-period-0 delete removes them.

`up` resumes a control plane whose processes died on its own data (etcd, certificates, tokens, audit log);
only `down` removes the state. Used by `make cluster-up` / `make cluster-down` (through tests.harness.fleet),
the pytest fixtures, molecule and the demo.

    python -m tests.harness.controlplane up   [--state .cluster]
    python -m tests.harness.controlplane stop [--state .cluster]   # stop the processes, keep the state
    python -m tests.harness.controlplane down [--state .cluster]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tests" / "harness" / "build-control-plane.sh"
MANIFESTS = REPO / "manifests"
# Structural CRDs for the Open Cluster Management kinds the collection writes (the project's own, not OCM's files).
OCM_MANIFESTS = REPO / "tests" / "harness" / "ocm"

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
"""

# Kubeconfig contexts for people and tools; admin is in system:masters, the others get what RBAC grants.
IDENTITIES = ("admin", "operator", "alice", "bob", "carol", "dave")
# The controllers authenticate as themselves (in system:masters), so the audit log tells their writes from
# the clients' ones: the write counter counts admin and operator only.
CONTROLLER_USERS = {"controller-manager": "system:kube-controller-manager", "scheduler": "system:kube-scheduler"}

PROCESSES = ("etcd", "apiserver", "controller-manager", "scheduler")  # start order; stopped in reverse
BINARY = {"etcd": "etcd", "apiserver": "kube-apiserver", "controller-manager": "kube-controller-manager",
          "scheduler": "kube-scheduler"}
PORT_KEYS = {"etcd": ("etcd", "etcd_peer"), "apiserver": ("apiserver",),
             "controller-manager": ("controller_manager",), "scheduler": ("scheduler",)}
DEPENDS_ON = {"apiserver": "etcd", "controller-manager": "apiserver", "scheduler": "apiserver"}
# What `up` writes into the state folder, and all that `down` removes.
OWN_FILES = ("etcd", "certs", "audit.log", "audit-policy.yaml", "tokens.csv", "tokens.json", "sa.key", "sa.pub",
             "ports.json", "pids.json", "kubeconfig", *(f"{name}.log" for name in PROCESSES),
             *(f"{name}.kubeconfig" for name in CONTROLLER_USERS))
PF_EXITING = 0x4  # /proc/<pid>/stat flags: the process is exiting
# With no kubelet posting heartbeats, the node lifecycle controller would mark every Node Unknown (and taint
# it) after its grace period; ten years keeps the Ready condition the tests set.
FOREVER = "87600h"


def say(message: str) -> None:
    print(f"[control-plane] {message}", file=sys.stderr, flush=True)


@functools.lru_cache(maxsize=None)
def binaries() -> Path:
    """Folder holding the four binaries; builds them once (the script prints progress), asks once per process."""
    out = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def free_port(taken=()) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in taken:
            return port


def port_free(port: int, patience: float = 3) -> bool:
    """The port can be listened on again. SO_REUSEADDR as Go's listeners set it, so TIME_WAIT does not count;
    a killed server's connections still closing (FIN-WAIT-1) hold the port for up to a second or so, hence
    the patience."""
    deadline = time.monotonic() + patience
    while True:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
        time.sleep(0.1)


def alive(pid: int, binary: str) -> bool:
    """The process runs and still is `binary`: a recycled pid is someone else's, an exiting one is dead (and
    reaped when it is a child of this process)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    if fields[0] in ("Z", "X") or int(fields[6]) & PF_EXITING:
        try:
            os.waitpid(pid, 0)  # a short wait while its other threads finish
        except ChildProcessError:
            pass
        return False
    # The executable names it from the moment exec succeeds (the command line is empty for a moment after,
    # and for kernel threads); the command line names it when the binary is a symlink.
    names = set()
    try:
        names.add(Path(os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")).name)
        names.add(Path(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")).name)
    except OSError:
        pass
    return binary in names


def _write_secret(path: Path, text: str) -> None:
    path.write_text(text)
    os.chmod(path, 0o600)


def _listing(names: list) -> str:
    return ", ".join(names) + (" is" if len(names) == 1 else " are")


@dataclass(frozen=True)
class ControlPlane:
    """One cluster whose state (etcd data, certificates, tokens, logs, kubeconfigs) lives in `state`;
    `name` (hub, spoke-1, ...) prefixes what it prints."""

    state: Path
    name: str = ""
    ocm: bool = False  # also install the OCM CRDs of tests/harness/ocm, after the collection's own manifests

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.state / "audit.log"

    @property
    def ca_cert(self) -> Path:
        return self.state / "certs" / "apiserver.crt"

    def pids(self) -> dict:
        """Process name -> pid of what `up` started (dead ones included until `down`)."""
        path = self.state / "pids.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def ports(self) -> dict:
        path = self.state / "ports.json"
        return json.loads(path.read_text()) if path.exists() else {}

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports()['apiserver']}"

    def token(self, user: str) -> str:
        return json.loads((self.state / "tokens.json").read_text())[user]

    def running(self) -> bool:
        return self._alive_processes() == set(PROCESSES) and self._ready()

    def api_client(self, context: str = "admin"):
        """A kubernetes ApiClient for one of the kubeconfig's contexts."""
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(str(self.kubeconfig), context=context, client_configuration=configuration,
                                persist_config=False)
        return client.ApiClient(configuration)

    def up(self) -> "ControlPlane":
        """Start what is not running, on the existing data when there is some; idempotent."""
        running = self._alive_processes()
        if running == set(PROCESSES) and self._ready():
            self._say(f"already running at {self.server} (kubeconfig {self.kubeconfig})")
            return self
        bin_dir = binaries()
        started = time.monotonic()
        if self._has_data():
            dead = [name for name in PROCESSES if name not in running]
            if running:
                self._say(f"{_listing([n for n in PROCESSES if n in running])} running; {_listing(dead)} not: "
                          f"restarting {'it' if len(dead) == 1 else 'them'} on the existing data")
            else:
                self._say("nothing is running: restarting etcd, apiserver and controllers on the existing data "
                          "(about 6 s)")
        else:
            self.stop(quiet=True)  # a start that never got as far as etcd data: nothing worth keeping
            self._remove_files()
            self._create_state()
            running = set()
            self._say("starting etcd, apiserver, controllers (about 6 s)")
        for name in self._plan_ports(running):
            if name in CONTROLLER_USERS:  # controllers need the apiserver's certificate and current address
                self._await_apiserver()
            self._record(name, self._spawn(name, self._argv(name, bin_dir)))
        self._await_apiserver()
        for name in CONTROLLER_USERS:
            self._wait_until(f"{name} /healthz", lambda n=name: self._healthy(n))
        self._bootstrap()
        self._wait_until("the default ServiceAccount in namespace default", self._default_service_account)
        self._say(f"ready at {self.server} in {time.monotonic() - started:.1f} s; kubeconfig {self.kubeconfig} "
                  f"(contexts: {', '.join(IDENTITIES)})")
        return self

    def stop(self, quiet: bool = False) -> None:
        """Stop exactly the processes `up` started (scheduler first, etcd last); the state stays for `up`."""
        pids = self.pids()
        for name in reversed(PROCESSES):
            if name in pids and alive(pids[name], BINARY[name]):
                self._stop_process(name, pids[name])
                if not quiet:
                    self._say(f"stopped {name} (pid {pids[name]})")

    def down(self, quiet: bool = False) -> None:
        """Force-delete bound pods (no kubelet would ever finish deleting them), stop, remove what `up` wrote
        (and the state folder once empty: other clusters' folders may live inside it)."""
        if self._alive_processes() == set(PROCESSES) and self._ready():
            self._force_delete_pods(quiet)
        self.stop(quiet)
        self._remove_files()
        if self.state.exists() and not any(self.state.iterdir()):
            self.state.rmdir()

    # -- state --------------------------------------------------------------------------------------------

    def _say(self, message: str) -> None:
        say(f"{self.name}: {message}" if self.name else message)

    def _has_data(self) -> bool:
        """Credentials and etcd data from an earlier `up` (the controllers' tokens too: older states lack them)."""
        needed = ("tokens.json", "tokens.csv", "sa.key", "sa.pub", "ports.json", "etcd/member")
        if not all((self.state / path).exists() for path in needed):
            return False
        if not set(CONTROLLER_USERS.values()) <= set(json.loads((self.state / "tokens.json").read_text())):
            self._say(f"{self.state} was written before the controllers had tokens: starting afresh")
            return False
        return True

    def _remove_files(self) -> None:
        for name in OWN_FILES:
            path = self.state / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def _create_state(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "audit-policy.yaml").write_text(AUDIT_POLICY)
        tokens = {user: secrets.token_hex(16) for user in (*IDENTITIES, *CONTROLLER_USERS.values())}
        masters = {"admin", *CONTROLLER_USERS.values()}
        lines = [f'{token},{user},uid-{user.split(":")[-1]}' + (',"system:masters"' if user in masters else "")
                 for user, token in tokens.items()]
        _write_secret(self.state / "tokens.csv", "\n".join(lines) + "\n")
        _write_secret(self.state / "tokens.json", json.dumps(tokens))
        key = self.state / "sa.key"
        for argv in (["openssl", "genrsa", "-out", str(key), "2048"],
                     ["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(self.state / "sa.pub")]):
            out = subprocess.run(argv, capture_output=True, text=True, check=False)
            if out.returncode:
                raise RuntimeError(f"{' '.join(argv)} failed: {out.stderr.strip()}")

    def _plan_ports(self, running: set) -> list:
        """Processes to start, in order, with their ports in ports.json: a dead process keeps its ports while
        they are free; a running one restarts when what it connects to moved to another port."""
        ports, moved, to_start = self.ports(), set(), []
        for name in PROCESSES:
            follows = DEPENDS_ON.get(name) in moved
            if name in running and not follows:
                continue
            if name in running:
                self._say(f"{DEPENDS_ON[name]} moved: restarting {name} to follow it")
                self._stop_process(name, self.pids()[name])
            keys = PORT_KEYS[name]
            taken = [key for key in keys if key in ports and not port_free(ports[key])]
            if taken:
                rewrite = "; the kubeconfigs get the new address" if name == "apiserver" else ""
                self._say(f"{name}'s port {', '.join(str(ports[key]) for key in taken)} is taken: "
                          f"moving it{rewrite}")
            if taken or any(key not in ports for key in keys):
                for key in keys:
                    ports[key] = free_port(taken=set(ports.values()))
                moved.add(name)
            to_start.append(name)
        (self.state / "ports.json").write_text(json.dumps(ports))
        pids = {name: pid for name, pid in self.pids().items() if name not in to_start}
        (self.state / "pids.json").write_text(json.dumps(pids))  # the dead are forgotten, not waited for
        return to_start

    def _await_apiserver(self) -> None:
        self._wait_until("apiserver /readyz", self._ready)
        self._write_kubeconfigs()

    def _record(self, name: str, pid: int) -> None:
        pids = dict(self.pids(), **{name: pid})
        (self.state / "pids.json").write_text(json.dumps(pids))

    def _write_kubeconfigs(self) -> None:
        """The users' kubeconfig and one per controller, each pointing at the apiserver's current port."""
        self._write_kubeconfig(self.kubeconfig, {user: user for user in IDENTITIES}, "admin")
        for name, user in CONTROLLER_USERS.items():
            self._write_kubeconfig(self.state / f"{name}.kubeconfig", {name: user}, name)

    def _write_kubeconfig(self, path: Path, contexts: dict, current: str) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local",
                          "cluster": {"server": self.server, "certificate-authority": str(self.ca_cert)}}],
            "users": [{"name": context, "user": {"token": self.token(user)}} for context, user in contexts.items()],
            "contexts": [{"name": context, "context": {"cluster": "local", "user": context}} for context in contexts],
            "current-context": current,
        }
        # JSON is YAML; every kubeconfig reader accepts it.
        _write_secret(path, json.dumps(config, indent=2))

    # -- processes ----------------------------------------------------------------------------------------

    def _argv(self, name: str, bin_dir: Path) -> list:
        ports, state = self.ports(), self.state
        if name == "etcd":
            client_url, peer_url = f"http://127.0.0.1:{ports['etcd']}", f"http://127.0.0.1:{ports['etcd_peer']}"
            return [str(bin_dir / "etcd"), "--data-dir", str(state / "etcd"),
                    "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                    "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                    "--initial-cluster", f"default={peer_url}", "--unsafe-no-fsync"]
        if name == "apiserver":
            return [str(bin_dir / "kube-apiserver"),
                    f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
                    f"--secure-port={ports['apiserver']}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    "--endpoint-reconciler-type=none",
                    f"--cert-dir={state / 'certs'}",
                    f"--token-auth-file={state / 'tokens.csv'}",
                    "--authorization-mode=RBAC",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    f"--service-account-key-file={state / 'sa.pub'}",
                    f"--service-account-signing-key-file={state / 'sa.key'}",
                    "--service-cluster-ip-range=10.0.0.0/24",
                    f"--audit-policy-file={state / 'audit-policy.yaml'}",
                    f"--audit-log-path={self.audit_log}",  # appended to across restarts
                    "--audit-log-maxsize=0"]
        common = [f"--kubeconfig={state / (name + '.kubeconfig')}", "--leader-elect=false",
                  "--bind-address=127.0.0.1", f"--secure-port={ports[PORT_KEYS[name][0]]}", "--port=0",
                  f"--cert-dir={state / 'certs' / name}"]
        if name == "controller-manager":
            return [str(bin_dir / "kube-controller-manager"), *common,
                    "--controllers=*", "--use-service-account-credentials=false",
                    f"--node-monitor-grace-period={FOREVER}", f"--node-startup-grace-period={FOREVER}",
                    f"--pod-eviction-timeout={FOREVER}",
                    f"--service-account-private-key-file={state / 'sa.key'}", f"--root-ca-file={self.ca_cert}"]
        return [str(bin_dir / "kube-scheduler"), *common]

    def _spawn(self, name: str, argv: list) -> int:
        # A plain child in its own session: the recorded pid is the server's, and Ctrl-C in a terminal
        # running pytest does not reach it.
        with open(self.state / f"{name}.log", "ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        return process.pid

    def _alive_processes(self) -> set:
        return {name for name, pid in self.pids().items() if name in BINARY and alive(pid, BINARY[name])}

    @staticmethod
    def _stop_process(name: str, pid: int) -> None:
        if not alive(pid, BINARY[name]):
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while alive(pid, BINARY[name]) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid, BINARY[name]):
            os.kill(pid, signal.SIGKILL)
            while alive(pid, BINARY[name]):
                time.sleep(0.05)

    # -- readiness ----------------------------------------------------------------------------------------

    def _wait_until(self, what: str, check, timeout: float = 180) -> None:
        """Usually seconds; the long timeout is for a machine busy with other clusters and builds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            pids = self.pids()
            for name in PROCESSES:
                if name in pids and not alive(pids[name], BINARY[name]):
                    tail = (self.state / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{self.name or 'control plane'}: {name} (pid {pids[name]}) exited while "
                                       f"waiting for {what}; last lines of {self.state / (name + '.log')}:\n{tail}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name or 'control plane'}: no {what} after {timeout:.0f} s (load average "
                           f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); see the logs in {self.state}")

    def _get(self, url: str, cafile: Path, token: str | None = None) -> tuple:
        """(status, body) of a GET verified against `cafile`; (0, reason) when it cannot connect."""
        try:
            context = ssl.create_default_context(cafile=str(cafile))
            headers = {"Authorization": "Bearer " + token} if token else {}
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), context=context,
                                        timeout=2) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (OSError, ValueError) as error:
            return 0, str(error).encode()

    def _ready(self) -> bool:
        if not self.ca_cert.exists() or "apiserver" not in self.ports():
            return False
        return self._get(self.server + "/readyz", self.ca_cert, self.token("admin"))[0] == 200

    def _healthy(self, name: str) -> bool:
        """A controller's /healthz, verified against the certificate it wrote into its own cert dir."""
        cert = self.state / "certs" / name / f"{BINARY[name]}.crt"
        port = self.ports()[PORT_KEYS[name][0]]
        return cert.exists() and self._get(f"https://127.0.0.1:{port}/healthz", cert)[0] == 200

    def _default_service_account(self) -> bool:
        """The controller manager acts: it creates each namespace's `default` ServiceAccount (pods need it)."""
        url = self.server + "/api/v1/namespaces/default/serviceaccounts/default"
        return self._get(url, self.ca_cert, self.token("admin"))[0] == 200

    def _bootstrap(self) -> None:
        """Install (or update) the collection's CRDs and the operator's RBAC, then the OCM CRDs when asked."""
        from tests.harness.manifests import apply_manifests  # needs the kubernetes client

        apply_manifests(self.kubeconfig, sorted(MANIFESTS.rglob("*.yaml")))
        if self.ocm:
            apply_manifests(self.kubeconfig, sorted(OCM_MANIFESTS.glob("*.yaml")))

    def _force_delete_pods(self, quiet: bool) -> None:
        from kubernetes import client

        from tests.harness.nodes import force_delete_pods

        count = force_delete_pods(client.CoreV1Api(self.api_client()))
        if count and not quiet:
            self._say(f"force-deleted {count} pod(s)")


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "stop", "down", "status"])
    parser.add_argument("--state", default=str(REPO / ".cluster"), help="state folder (default: .cluster)")
    parser.add_argument("--ocm", action="store_true", help="also install the OCM CRDs of tests/harness/ocm")
    args = parser.parse_args(argv)
    plane = ControlPlane(Path(args.state).resolve(), ocm=args.ocm)
    if args.action == "up":
        plane.up()
    elif args.action == "stop":
        plane.stop()
    elif args.action == "down":
        plane.down()
    else:
        print("running" if plane.running() else "stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A real local Kubernetes control plane: etcd + kube-apiserver on loopback.

TLS stays on (the apiserver's self-signed certificate is the kubeconfig's CA), requests are authenticated
by a static token file and authorized by RBAC, and every request lands in a JSON audit log, which is how
the tests count writes. Used by `make cluster-up` / `make cluster-down`, the pytest fixtures and the demo.

    python -m tests.harness.controlplane up   [--state .cluster]
    python -m tests.harness.controlplane down [--state .cluster]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tests" / "harness" / "build-control-plane.sh"
MANIFESTS = REPO / "manifests"

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
"""


def say(message: str) -> None:
    print(f"[control-plane] {message}", file=sys.stderr, flush=True)


def binaries() -> Path:
    """Folder holding kube-apiserver and etcd; builds them once (the script prints progress)."""
    out = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class ControlPlane:
    """One etcd + kube-apiserver pair whose state (certs, tokens, logs, kubeconfig) lives in `state`."""

    state: Path

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.state / "audit.log"

    @property
    def ca_cert(self) -> Path:
        return self.state / "certs" / "apiserver.crt"

    def _pids(self) -> dict:
        path = self.state / "pids.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _ports(self) -> dict:
        return json.loads((self.state / "ports.json").read_text())

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self._ports()['apiserver']}"

    def token(self, user: str) -> str:
        return json.loads((self.state / "tokens.json").read_text())[user]

    def running(self) -> bool:
        pids = self._pids()
        return bool(pids) and all(_alive(pid) for pid in pids.values()) and self._ready()

    def _ready(self) -> bool:
        try:
            context = ssl.create_default_context(cafile=str(self.ca_cert))
            request = urllib.request.Request(
                self.server + "/readyz", headers={"Authorization": "Bearer " + self.token("admin")}
            )
            with urllib.request.urlopen(request, context=context, timeout=2) as response:
                return response.status == 200
        except (OSError, ValueError, KeyError):
            return False

    def up(self) -> "ControlPlane":
        """Start the pair unless it already runs; idempotent."""
        if self.running():
            say(f"already running at {self.server} (kubeconfig {self.kubeconfig})")
            return self
        self.down(quiet=True)
        bin_dir = binaries()
        self.state.mkdir(parents=True, exist_ok=True)
        ports = {"etcd": free_port(), "etcd_peer": free_port(), "apiserver": free_port()}
        (self.state / "ports.json").write_text(json.dumps(ports))
        self._write_credentials()
        (self.state / "audit-policy.yaml").write_text(AUDIT_POLICY)

        pids = {"etcd": self._spawn("etcd", [
            str(bin_dir / "etcd"),
            "--data-dir", str(self.state / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{ports['etcd']}",
            "--advertise-client-urls", f"http://127.0.0.1:{ports['etcd']}",
            "--listen-peer-urls", f"http://127.0.0.1:{ports['etcd_peer']}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{ports['etcd_peer']}",
            "--initial-cluster", f"default=http://127.0.0.1:{ports['etcd_peer']}",
            "--unsafe-no-fsync",
        ])}
        (self.state / "pids.json").write_text(json.dumps(pids))
        pids["apiserver"] = self._spawn("apiserver", [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            f"--secure-port={ports['apiserver']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={self.state / 'certs'}",
            f"--token-auth-file={self.state / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={self.state / 'sa.pub'}",
            f"--service-account-signing-key-file={self.state / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            f"--audit-policy-file={self.state / 'audit-policy.yaml'}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-maxsize=0",
        ])
        (self.state / "pids.json").write_text(json.dumps(pids))
        self._wait_ready()
        self._write_kubeconfig()
        self._bootstrap()
        say(f"ready at {self.server}; kubeconfig {self.kubeconfig} (contexts: admin, operator)")
        return self

    def down(self, quiet: bool = False) -> None:
        """Stop exactly the processes this state started, then remove the state."""
        for name, pid in sorted(self._pids().items(), reverse=True):  # etcd after apiserver
            if _alive(pid):
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 5
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
                if not quiet:
                    say(f"stopped {name} (pid {pid})")
        if self.state.exists():
            subprocess.run(["rm", "-rf", str(self.state)], check=True)

    def _spawn(self, name: str, argv: list) -> int:
        log = open(self.state / f"{name}.log", "ab")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        log.close()
        return process.pid

    def _write_credentials(self) -> None:
        tokens = {"admin": secrets.token_hex(16), "operator": secrets.token_hex(16)}
        for user in ("alice", "bob", "carol", "dave"):  # identities for RBAC tests
            tokens[user] = secrets.token_hex(16)
        lines = [f'{tokens["admin"]},admin,uid-admin,"system:masters"']
        lines += [f"{token},{user},uid-{user}" for user, token in tokens.items() if user != "admin"]
        (self.state / "tokens.csv").write_text("\n".join(lines) + "\n")
        (self.state / "tokens.json").write_text(json.dumps(tokens))
        os.chmod(self.state / "tokens.csv", 0o600)
        os.chmod(self.state / "tokens.json", 0o600)
        key = self.state / "sa.key"
        for argv in (["openssl", "genrsa", "-out", str(key), "2048"],
                     ["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(self.state / "sa.pub")]):
            out = subprocess.run(argv, capture_output=True, text=True, check=False)
            if out.returncode:
                raise RuntimeError(f"{' '.join(argv)} failed: {out.stderr.strip()}")

    def _wait_ready(self, timeout: float = 60) -> None:
        say("waiting for /readyz (usually about 5 s)")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ca_cert.exists() and self._ready():
                return
            for name, pid in self._pids().items():
                if not _alive(pid):
                    tail = (self.state / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} exited during start-up; last log lines:\n{tail}")
            time.sleep(0.25)
        raise RuntimeError(f"control plane not ready after {timeout:.0f} s; see {self.state}/apiserver.log")

    def _write_kubeconfig(self) -> None:
        users = ["admin", "operator", "alice", "bob", "carol", "dave"]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local",
                          "cluster": {"server": self.server, "certificate-authority": str(self.ca_cert)}}],
            "users": [{"name": user, "user": {"token": self.token(user)}} for user in users],
            "contexts": [{"name": user, "context": {"cluster": "local", "user": user}} for user in users],
            "current-context": "admin",
        }
        # JSON is YAML; every kubeconfig reader accepts it.
        self.kubeconfig.write_text(json.dumps(config, indent=2))
        os.chmod(self.kubeconfig, 0o600)

    def _bootstrap(self) -> None:
        """Install the collection's CRDs and the operator's RBAC."""
        from tests.harness.manifests import apply_manifests  # needs the kubernetes client

        apply_manifests(self.kubeconfig, sorted(MANIFESTS.rglob("*.yaml")))


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--state", default=str(REPO / ".cluster"), help="state folder (default: .cluster)")
    args = parser.parse_args(argv)
    plane = ControlPlane(Path(args.state).resolve())
    if args.action == "up":
        plane.up()
    elif args.action == "down":
        plane.down()
    else:
        print("running" if plane.running() else "stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

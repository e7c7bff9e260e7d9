"""A hub and N spokes on one machine: each its own control plane (etcd, apiserver, controllers, certificates,
tokens, audit log), so one cluster's CA verifies no other's server and one's tokens open no other.

Layout: the hub is `<state>/` exactly as a single control plane, spoke i is `<state>/spokes/spoke-<i>/` with the
same files, and `<state>/fleet.kubeconfig` holds a context per cluster and identity (`hub-admin`,
`hub-operator`, ..., `spoke-1-admin`, ...), each cluster entry with that cluster's own CA. Every cluster gets the
collection's manifests and then the structural OCM CRDs of tests/harness/ocm (ManagedCluster, ManagedClusterSet,
ManifestWork, Klusterlet), so spokes can be registered to the hub; `--no-ocm` leaves them out.

    python -m tests.harness.fleet up   [--spokes N] [--state .cluster]
    python -m tests.harness.fleet down [--state .cluster]   # every cluster found under the state
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.harness.controlplane import IDENTITIES, REPO, ControlPlane, binaries, say


@dataclass(frozen=True)
class Fleet:
    hub: ControlPlane
    spokes: tuple

    @classmethod
    def at(cls, state: Path, spokes: int = 0, ocm: bool = True) -> "Fleet":
        """The hub in `state`, spoke-1 .. spoke-N under `state/spokes`; with `ocm`, each with the OCM CRDs."""
        return cls(ControlPlane(state, "hub", ocm),
                   tuple(ControlPlane(state / "spokes" / f"spoke-{i}", f"spoke-{i}", ocm)
                         for i in range(1, spokes + 1)))

    @property
    def state(self) -> Path:
        return self.hub.state

    @property
    def clusters(self) -> tuple:
        return (self.hub, *self.spokes)

    @property
    def kubeconfig(self) -> Path:
        return self.state / "fleet.kubeconfig"

    def cluster(self, name: str) -> ControlPlane:
        for plane in self.clusters:
            if plane.name == name:
                return plane
        raise KeyError(f"no cluster {name!r} in this fleet; it has {', '.join(p.name for p in self.clusters)}")

    def up(self) -> "Fleet":
        """Start (or resume) every cluster side by side, then write the fleet kubeconfig; idempotent."""
        binaries()  # a first build happens once, before the clusters start
        started = time.monotonic()
        say(f"{', '.join(plane.name for plane in self.clusters)}: starting side by side "
            f"(about 5 s per cluster on 2 cores)")
        with ThreadPoolExecutor(len(self.clusters)) as pool:
            results = {plane.name: pool.submit(plane.up) for plane in self.clusters}
        failed = {name: result.exception() for name, result in results.items() if result.exception()}
        if failed:
            raise RuntimeError("; ".join(f"{name} failed to start: {error}" for name, error in failed.items())
                               + "\nThe other clusters keep running; `make cluster-down` stops them all.")
        self._write_kubeconfig()
        say(f"{len(self.clusters)} cluster(s) ready in {time.monotonic() - started:.1f} s; kubeconfig "
            f"{self.kubeconfig} (contexts <cluster>-<identity>: {', '.join(p.name for p in self.clusters)} x "
            f"{', '.join(IDENTITIES)})")
        return self

    def down(self, quiet: bool = False) -> None:
        """Stop every cluster found under the state, spokes first, then remove the state folder whole."""
        for plane in self.all_spokes():
            plane.down(quiet)
        self.hub.down(quiet)
        if self.state.exists():
            shutil.rmtree(self.state)

    def all_spokes(self) -> list:
        """This fleet's spokes, then any other found under the state (from an earlier, larger start)."""
        folders = sorted((self.state / "spokes").glob("*/")) if (self.state / "spokes").exists() else []
        found = [ControlPlane(folder, folder.name, self.hub.ocm) for folder in folders]
        return list(self.spokes) + [plane for plane in found if plane not in self.spokes]

    def _write_kubeconfig(self) -> None:
        config = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": [],
                  "current-context": "hub-admin"}
        for plane in self.clusters:
            config["clusters"].append({"name": plane.name, "cluster": {
                "server": plane.server, "certificate-authority": str(plane.ca_cert)}})
            for identity in IDENTITIES:
                name = f"{plane.name}-{identity}"
                config["users"].append({"name": name, "user": {"token": plane.token(identity)}})
                config["contexts"].append({"name": name, "context": {"cluster": plane.name, "user": name}})
        self.kubeconfig.write_text(json.dumps(config, indent=2))
        self.kubeconfig.chmod(0o600)


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--spokes", type=int, default=0, help="number of spoke clusters beside the hub (default 0)")
    parser.add_argument("--state", default=str(REPO / ".cluster"), help="state folder (default: .cluster)")
    parser.add_argument("--no-ocm", dest="ocm", action="store_false",
                        help="leave out the OCM CRDs (ManagedCluster, Klusterlet, ...) the clusters get otherwise")
    args = parser.parse_args(argv)
    state = Path(args.state).resolve()
    earlier = len(Fleet.at(state, ocm=args.ocm).all_spokes())
    if args.action == "up" and earlier > args.spokes:
        say(f"{earlier} spokes were started before: keeping them in the fleet (`make cluster-down` removes them)")
    fleet = Fleet.at(state, max(args.spokes, earlier), args.ocm)
    if args.action == "up":
        fleet.up()
    elif args.action == "down":
        fleet.down()
    else:
        for plane in (fleet.hub, *fleet.all_spokes()):
            print(f"{plane.name}: {'running' if plane.running() else 'stopped'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

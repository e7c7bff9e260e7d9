"""Shared fixtures: a fresh real control plane per test session, API clients, and the audit-write counter."""

from __future__ import annotations

import uuid

import pytest

from tests.harness.collection import ensure_collection_path

ensure_collection_path()

pytest_plugins = ["tests.harness.fixtures"]


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    """etcd, kube-apiserver, controller manager and scheduler on loopback, CRDs and operator RBAC installed;
    stopped at the end."""
    from tests.harness.controlplane import ControlPlane

    plane = ControlPlane(tmp_path_factory.mktemp("cluster") / "state")
    try:
        plane.up()
        yield plane
    finally:  # also when the start fails: what did start is stopped
        plane.down(quiet=True)


@pytest.fixture(scope="session")
def kubeconfig(control_plane):
    return str(control_plane.kubeconfig)


def _api_client(control_plane, context):
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(str(control_plane.kubeconfig), context=context, client_configuration=configuration,
                            persist_config=False)
    return client.ApiClient(configuration)


@pytest.fixture(scope="session")
def api_client_for(control_plane):
    """ApiClient for a kubeconfig context: admin, operator, alice, bob, carol, dave."""
    clients = {}

    def get(context="admin"):
        if context not in clients:
            clients[context] = _api_client(control_plane, context)
        return clients[context]

    return get


@pytest.fixture(scope="session")
def core_v1(api_client_for):
    from kubernetes import client

    return client.CoreV1Api(api_client_for("admin"))


@pytest.fixture(scope="session")
def custom_objects(api_client_for):
    from kubernetes import client

    return client.CustomObjectsApi(api_client_for("admin"))


class WriteCounter:
    """Counts client writes in the audit log between `start()` and `count()`."""

    def __init__(self, audit, core):
        self.audit, self.core, self.mark = audit, core, audit.mark()

    def start(self):
        self.mark = self.audit.mark()
        return self

    def events(self):
        """Writes since the mark, once the log has caught up (a marker request is seen)."""
        self._settle()
        return self.audit.writes_since(self.mark)

    def dry_runs(self):
        """Server-side dry-run requests since the mark (check mode sends these; they store nothing)."""
        self._settle()
        return self.audit.dry_runs_since(self.mark)

    def _settle(self):
        import time

        from kubernetes.client.exceptions import ApiException

        marker = f"audit-marker-{uuid.uuid4().hex[:12]}"
        try:
            self.core.read_namespace(marker)
        except ApiException:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            events = self.audit.events_since(self.mark)
            if any(e.get("objectRef", {}).get("name") == marker and e.get("stage") == "ResponseComplete"
                   for e in events):
                return
            time.sleep(0.05)

    def count(self) -> int:
        return len(self.events())

    def describe(self) -> str:
        return self.audit.describe(self.events())


@pytest.fixture
def writes(control_plane, core_v1):
    """`writes.start()` then `writes.count()`: client writes (create/update/patch/delete) in between."""
    from tests.harness.audit import AuditLog

    return WriteCounter(AuditLog(control_plane.audit_log), core_v1)


@pytest.fixture(scope="session")
def fleet(tmp_path_factory):
    """A hub and two spokes, each its own control plane with the CRDs and operator RBAC. Started only when a
    test asks for it (each cluster costs about 500 MB and a few seconds); stopped at the end of the session."""
    from tests.harness.fleet import Fleet

    clusters = Fleet.at(tmp_path_factory.mktemp("fleet") / "state", spokes=2)
    try:
        yield clusters.up()
    finally:  # also when one cluster fails to start: the others are stopped
        clusters.down(quiet=True)


@pytest.fixture(scope="session")
def fleet_api_client(fleet):
    """ApiClient for a cluster and context: `fleet_api_client("spoke-1", "operator")`."""
    clients = {}

    def get(cluster="hub", context="admin"):
        if (cluster, context) not in clients:
            clients[cluster, context] = fleet.cluster(cluster).api_client(context)
        return clients[cluster, context]

    return get


@pytest.fixture
def fleet_writes(fleet, fleet_api_client):
    """A write counter per cluster name (`fleet_writes["spoke-1"].count()`), as `writes` counts them, each from
    that cluster's own audit log."""
    from kubernetes import client

    from tests.harness.audit import AuditLog

    return {plane.name: WriteCounter(AuditLog(plane.audit_log), client.CoreV1Api(fleet_api_client(plane.name)))
            for plane in fleet.clusters}

"""Apply the collection's manifests (CRDs, RBAC) with server-side apply and wait until CRDs serve."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from kubernetes import config, dynamic
from kubernetes.client import api_client

FIELD_MANAGER = "gpufabric-harness"


def _configuration(kubeconfig: Path, context: str):
    from kubernetes.client import Configuration

    configuration = Configuration()
    config.load_kube_config(str(kubeconfig), context=context, client_configuration=configuration,
                            persist_config=False)
    return configuration


def apply_manifests(kubeconfig: Path, paths: list, timeout: float = 30) -> None:
    client = dynamic.DynamicClient(api_client.ApiClient(configuration=_configuration(kubeconfig, "admin")))
    crds = []
    for path in paths:
        for document in yaml.safe_load_all(Path(path).read_text()):
            if not document:
                continue
            resource = client.resources.get(api_version=document["apiVersion"], kind=document["kind"])
            resource.server_side_apply(body=document, name=document["metadata"]["name"],
                                       field_manager=FIELD_MANAGER, force_conflicts=True)
            if document["kind"] == "CustomResourceDefinition":
                crds.append(document["metadata"]["name"])
    crd_api = client.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    deadline = time.monotonic() + timeout
    for name in crds:
        while True:
            conditions = (crd_api.get(name=name).to_dict().get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRD {name} not Established after {timeout:.0f} s")
            time.sleep(0.2)

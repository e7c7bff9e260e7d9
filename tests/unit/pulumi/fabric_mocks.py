"""Pulumi's own unit-test mocks, recording what the program registers: each resource's type, logical name, inputs,
URN, parent, provider, dependencies and protect flag, and the stack's outputs. No Pulumi CLI, no provider.

A FakeCluster stands in for the kube layer's Cluster where a unit test needs the program to read a cluster: it
answers LISTs and GETs from objects given in the test, and nothing else."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import pulumi
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import get_root_resource

from tests.harness.collection import REPO, ensure_collection_path

ensure_collection_path()
if str(REPO / "pulumi") not in sys.path:
    sys.path.insert(0, str(REPO / "pulumi"))

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def is_secret(value) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value.values() and "value" in value


def reveal(value):
    """A value with every secret wrapper the mock monitor hands over replaced by the value it wraps."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return dict((key, reveal(item)) for key, item in value.items())
    if isinstance(value, list):
        return [reveal(item) for item in value]
    return value


@dataclass
class Declared:
    typ: str
    name: str
    inputs: dict
    custom: bool
    urn: str = ""
    parent: str = ""
    provider: str = ""
    dependencies: List[str] = field(default_factory=list)
    protect: bool = False

    @property
    def obj(self) -> dict:
        return reveal(self.inputs)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.declared: Dict[tuple, Declared] = {}
        self.lock = threading.Lock()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        with self.lock:
            key = (args.typ, args.name)
            assert key not in self.declared, "two resources share type and name %s" % (key,)
            self.declared[key] = Declared(args.typ, args.name, args.inputs, bool(args.custom))
        return args.name + "-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class RecordingMonitor(MockMonitor):
    """MockResourceArgs carries no parent, dependencies or protect flag; the monitor's request does."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.recorder = mocks

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        declared = self.recorder.declared.get((request.type, request.name))
        if declared is not None:
            declared.urn, declared.parent = response.urn, request.parent
            declared.provider = request.provider.split("::")[-2] if request.provider else ""
            declared.dependencies = list(request.dependencies)
            declared.protect = bool(request.protect)
        return response


@dataclass
class Run:
    declared: List[Declared]
    result: object
    outputs: dict

    def kubernetes(self) -> List[Declared]:
        return [d for d in self.declared if d.custom and d.typ.startswith("kubernetes:")]

    def of_type(self, typ: str) -> List[Declared]:
        return [d for d in self.declared if d.typ.endswith(typ)]

    def one(self, typ: str, name: str) -> Declared:
        found = [d for d in self.declared if d.typ.endswith(typ) and d.name == name]
        assert len(found) == 1, "%s %s declared %d times" % (typ, name, len(found))
        return found[0]

    def by_urn(self, urn: str) -> Optional[Declared]:
        return next((d for d in self.declared if d.urn == urn), None)

    def depends_on(self, dependent: Declared, dependency: Declared) -> bool:
        """Whether the engine would finish `dependency` before starting `dependent` (a direct dependency)."""
        return dependency.urn in dependent.dependencies


def run(program, config: Optional[dict] = None) -> Run:
    """Run `program()` under fresh mocks as the stack `gpufabric/test`; every registration has finished when this
    returns (pulumi.runtime.test waits for all outstanding resource operations)."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="gpufabric", stack="test", preview=False,
                             monitor=RecordingMonitor(mocks))
    pulumi.runtime.set_all_config(dict(("gpufabric:%s" % key, value) for key, value in (config or {}).items()))
    holder = {}

    @pulumi.runtime.test
    def wrapped():
        holder["result"] = program()

    wrapped()
    root = get_root_resource()
    outputs = dict(getattr(root, "outputs", {}) or {})
    return Run(list(mocks.declared.values()), holder.get("result"), outputs)


class FakeConnection:
    host = "https://hub.example:6443"
    verify = True
    ca_file = None


class FakeCluster:
    """LIST and GET answered from {kind: [objects]}, and API discovery from the kinds served; any other request is
    a test failure."""

    def __init__(self, objects: Optional[dict] = None, host: str = "https://hub.example:6443", served=()):
        self.objects = dict(objects or {})
        self.connection = FakeConnection()
        self.connection.host = host
        self.served = dict(served)  # api version -> kinds

    def list(self, kind, namespace=None, label_selector=None, field_selector=None):
        items = [obj for obj in self.objects.get(kind, []) if namespace is None
                 or obj["metadata"].get("namespace") == namespace]
        if label_selector:
            for requirement in label_selector.split(","):
                key, equals, value = requirement.partition("=")
                items = [obj for obj in items if (obj["metadata"].get("labels") or {}).get(key) == value
                         or (not equals and key in (obj["metadata"].get("labels") or {}))]
        return [dict(obj) for obj in items]

    def get(self, kind, name, namespace=None):
        return next((dict(obj) for obj in self.objects.get(kind, []) if obj["metadata"]["name"] == name
                     and (obj["metadata"].get("namespace") or None) == (namespace or None)), None)

    def request(self, method, path, body=None, query=None, content_type=None):
        if method == "GET" and path.startswith("/apis/"):
            kinds = self.served.get(path[len("/apis/"):], ())
            return {"resources": [{"name": kind.lower() + "s", "kind": kind} for kind in kinds]}
        raise AssertionError("the program sent %s %s to a cluster it should only read" % (method, path))

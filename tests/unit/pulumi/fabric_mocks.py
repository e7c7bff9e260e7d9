"""Pulumi's own unit-test mocks, recording what the program declares: every registration's type token, logical
name, inputs, custom flag, parent URN and provider reference. No Pulumi CLI and no cluster."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Dict, List, Optional

import pulumi
from pulumi.runtime.mocks import MockMonitor

from tests.harness.collection import REPO, ensure_collection_path

ensure_collection_path()
if str(REPO / "pulumi") not in sys.path:
    sys.path.insert(0, str(REPO / "pulumi"))


@dataclass
class Declared:
    typ: str
    name: str
    inputs: dict
    custom: bool
    provider: str = ""
    urn: str = ""
    parent: str = ""


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every new_resource call (type and inputs) and echoes the inputs back as the resource's state."""

    def __init__(self):
        self.declared: Dict[tuple, Declared] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        key = (args.typ, args.name)
        assert key not in self.declared, "two resources share type and name %s" % (key,)
        self.declared[key] = Declared(args.typ, args.name, args.inputs, bool(args.custom), args.provider or "")
        return args.name + "-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class ParentRecordingMonitor(MockMonitor):
    """MockResourceArgs carries no parent; the monitor's request does, so it is recorded here."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.recorder = mocks

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        declared = self.recorder.declared.get((request.type, request.name))
        if declared is not None:
            declared.urn, declared.parent = response.urn, request.parent
        return response


@dataclass
class Run:
    declared: List[Declared]
    result: object

    def kubernetes(self) -> List[Declared]:
        return [d for d in self.declared if d.custom and d.typ.startswith("kubernetes:")]

    def of_type(self, typ: str) -> List[Declared]:
        return [d for d in self.declared if d.typ == typ]

    def by_urn(self, urn: str) -> Optional[Declared]:
        return next((d for d in self.declared if d.urn == urn), None)


def run(program, config: Optional[dict] = None) -> Run:
    """Run `program()` under fresh mocks as the stack `gpufabric/test`; every registration has finished when this
    returns (pulumi.runtime.test waits for all outstanding resource operations)."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="gpufabric", stack="test", preview=False,
                             monitor=ParentRecordingMonitor(mocks))
    pulumi.runtime.set_all_config(dict(config or {}))
    holder = {}

    @pulumi.runtime.test
    def wrapped():
        holder["result"] = program()

    wrapped()
    return Run(list(mocks.declared.values()), holder.get("result"))

"""The fabric spec, read as the fabric module reads it and validated by the core (`parse_fabric`: every entry by its
module's own options and parser, the rules across entries), never by a second schema here.

Pool documents named by `src` are read beside the spec (`documents.read_fabric_spec`, shared with the Ansible
side). Spokes are the spoke module's arguments; their connection comes from the stack config (a secret), else from
the entry's own `cluster`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError, raise_if
from ansible_collections.gpufabric.platform.plugins.module_utils.core.fabric import FabricSpec, parse_fabric
from ansible_collections.gpufabric.platform.plugins.module_utils.core.options import validate_options
from ansible_collections.gpufabric.platform.plugins.module_utils.core.registration import SpokeSpec, parse_spoke
from ansible_collections.gpufabric.platform.plugins.module_utils.documents import read_fabric_spec


@dataclass(frozen=True)
class Fabric:
    """The validated spec, and its spokes (present ones; an absent spoke is simply not declared)."""

    spec: FabricSpec
    spokes: Tuple[SpokeSpec, ...] = ()

    @property
    def label_prefix(self) -> str:
        return self.spec.label_prefix


def load_fabric(path, label_prefix=None, spoke_options: Dict[str, dict] = None) -> Fabric:
    """Read and validate the spec at `path`; FabricError with every problem. label_prefix (stack config) wins
    over the spec's own; spoke_options: {spoke: connection options} from the stack config."""
    document = read_fabric_spec(str(path))
    spec = parse_fabric(document, label_prefix)
    return Fabric(spec, parse_spokes(document.get("spokes") or [], spoke_options or {}))


def parse_spokes(entries, spoke_options) -> Tuple[SpokeSpec, ...]:
    """The spoke module's checks on each present spoke entry (parse_fabric has checked their options)."""
    errors, spokes = [], []
    for index, args in enumerate(entries):
        params, unused = validate_options("spoke", args, "spokes[%d]" % index)
        if params.get("state", "present") != "present":
            continue
        name = params.get("name")
        if name in spoke_options:
            params = dict(params, cluster=spoke_options[name])
        elif not params.get("cluster"):
            errors.append("spokes[%d] (%s): no connection; add it to the spokeConnections stack config (or give "
                          "the entry a cluster)" % (index, name))
            continue
        try:
            spokes.append(parse_spoke(params))
        except FabricError as error:
            errors += ["spokes[%d] (%s): %s" % (index, name, message) for message in error.errors]
    raise_if(errors)
    return tuple(spokes)

"""Typed stack configuration, read once from `pulumi.Config()`: the rest of the program never touches config keys.

Every key is declared in Pulumi.yaml. Connections are the kube layer's options (`kubeconfig`, `context`), so the
program reads the cluster with the same code the Ansible modules use and the provider reaches the same server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

import pulumi
import yaml

from ansible_collections.gpufabric.platform.plugins.module_utils.core.errors import FabricError

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = "../playbooks/files/demo-fabric.yml"
CONNECTION_KEYS = ("kubeconfig", "context")


@dataclass(frozen=True)
class Connection:
    """One API server: `kubeconfig` is a path or the kubeconfig itself (YAML or JSON text), `context` one of its
    contexts; both unset means the ambient configuration (KUBECONFIG, else ~/.kube/config), as kubectl reads it."""

    kubeconfig: Optional[str] = None
    context: Optional[str] = None

    @property
    def inline(self) -> bool:
        """Whether `kubeconfig` holds the kubeconfig itself rather than a path to it."""
        return bool(self.kubeconfig) and ("\n" in self.kubeconfig or self.kubeconfig.lstrip().startswith("{"))

    def options(self) -> dict:
        """The kube layer's connection options for this server."""
        options = {}
        if self.kubeconfig:
            options["kubeconfig"] = yaml.safe_load(self.kubeconfig) if self.inline else str(
                Path(self.kubeconfig).expanduser())
        if self.context:
            options["context"] = self.context
        return options

    def provider_kubeconfig(self) -> Optional[str]:
        """What the Kubernetes provider takes: the text itself, or the path (expanded)."""
        if not self.kubeconfig:
            return None
        return self.kubeconfig if self.inline else str(Path(self.kubeconfig).expanduser())


@dataclass(frozen=True)
class StackConfig:
    """spec: the fabric spec (relative paths are taken from the directory of Pulumi.yaml, so the program behaves
    the same from any working directory); label_prefix: overrides the spec's own; hub: the cluster the stack
    addresses (the hub of a fleet, or the one cluster); spokes: {spoke name: Connection} for the spokes the spec
    declares or names."""

    spec: Path
    label_prefix: Optional[str] = None
    hub: Connection = Connection()
    spokes: Dict[str, Connection] = field(default_factory=dict)

    @classmethod
    def load(cls, config: Optional[pulumi.Config] = None) -> "StackConfig":
        config = config or pulumi.Config()
        spec = Path(config.get("spec") or DEFAULT_SPEC)
        if not spec.is_absolute():
            spec = PROJECT_DIR / spec
        hub = Connection(kubeconfig=config.get("kubeconfig") or None, context=config.get("context") or None)
        return cls(spec=spec, label_prefix=config.get("labelPrefix") or None, hub=hub,
                   spokes=parse_spoke_connections(config.get("spokeConnections"), hub))


def parse_spoke_connections(text: Optional[str], hub: Connection) -> Dict[str, Connection]:
    """`spokeConnections` (a secret: it may hold kubeconfigs) is a YAML or JSON mapping {spoke: {kubeconfig,
    context}}; a spoke given only a context is reached through the hub's kubeconfig (one file with a context per
    cluster). FabricError naming what is wrong, never the values."""
    if not text:
        return {}
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise FabricError(["spokeConnections is not YAML or JSON (%s)" % getattr(error, "problem", "parse error")])
    if not isinstance(document, dict):
        raise FabricError(["spokeConnections must be a mapping {spoke name: {kubeconfig, context}}, got %s"
                           % type(document).__name__])
    errors, connections = [], {}
    for name, value in sorted(document.items(), key=lambda item: str(item[0])):
        if not isinstance(value, dict):
            errors.append("spokeConnections.%s must be a mapping with %s" % (name, " and/or ".join(CONNECTION_KEYS)))
            continue
        unknown = sorted(str(key) for key in value if key not in CONNECTION_KEYS)
        if unknown:
            errors.append("spokeConnections.%s: unknown key(s) %s (known: %s)"
                          % (name, ", ".join(unknown), ", ".join(CONNECTION_KEYS)))
        bad = [key for key in CONNECTION_KEYS if value.get(key) is not None and not isinstance(value[key], str)]
        errors += ["spokeConnections.%s.%s must be a string" % (name, key) for key in bad]
        if not value.get("kubeconfig") and not value.get("context"):
            errors.append("spokeConnections.%s needs a kubeconfig or a context" % name)
        if not unknown and not bad:
            connections[str(name)] = Connection(kubeconfig=value.get("kubeconfig") or hub.kubeconfig,
                                                context=value.get("context"))
    if errors:
        raise FabricError(errors)
    return connections

"""Typed stack configuration: one frozen dataclass read once from `pulumi.Config()`, so the rest of the program
never touches config keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = "../playbooks/files/demo-fabric.yml"


@dataclass(frozen=True)
class StackConfig:
    """spec: fabric spec path (relative paths are taken from the Pulumi project directory, where Pulumi.yaml is,
    so the program behaves the same whatever the shell's working directory); label_prefix: overrides the spec's
    `label_prefix` when set; kubeconfig / context: an explicit Kubernetes provider when either is set."""

    spec: Path
    label_prefix: Optional[str] = None
    kubeconfig: Optional[str] = None
    context: Optional[str] = None

    @property
    def explicit_provider(self) -> bool:
        return bool(self.kubeconfig or self.context)

    @classmethod
    def load(cls, config: Optional[pulumi.Config] = None) -> "StackConfig":
        config = config or pulumi.Config()
        spec = Path(config.get("spec") or DEFAULT_SPEC)
        if not spec.is_absolute():
            spec = PROJECT_DIR / spec
        return cls(spec=spec, label_prefix=config.get("labelPrefix") or None,
                   kubeconfig=config.get("kubeconfig") or None, context=config.get("context") or None)

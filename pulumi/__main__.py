"""gpufabric as a Pulumi stack: read the stack config, declare the fabric spec. Everything else lives in the
gpufabric_pulumi package, so the unit tests exercise the same code without the Pulumi CLI."""

from gpufabric_pulumi.config import StackConfig
from gpufabric_pulumi.program import declare_stack

declare_stack(StackConfig.load())

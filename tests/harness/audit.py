"""Count the writes a client sent, from the apiserver's audit log (never from the module's own word)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


def is_dry_run(event: dict) -> bool:
    return "dryRun=All" in event.get("requestURI", "")


@dataclass(frozen=True)
class AuditLog:
    path: Path

    def mark(self) -> int:
        """A point in the log; writes are counted from here."""
        return self.path.stat().st_size if self.path.exists() else 0

    def events_since(self, mark: int) -> list:
        with open(self.path, "rb") as log:
            log.seek(mark)
            lines = log.read().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def requests_since(self, mark: int, users=("admin", "operator")) -> list:
        """Completed write-verb requests by these users since `mark` (the apiserver's own are left out)."""
        return [
            event for event in self.events_since(mark)
            if event.get("stage") == "ResponseComplete"
            and event.get("verb") in WRITE_VERBS
            and event.get("user", {}).get("username") in users
        ]

    def writes_since(self, mark: int, users=("admin", "operator")) -> list:
        """Requests that changed stored state: write verbs that were not server-side dry runs."""
        return [event for event in self.requests_since(mark, users) if not is_dry_run(event)]

    def dry_runs_since(self, mark: int, users=("admin", "operator")) -> list:
        """Write-verb requests sent with dryRun=All: validated and admitted by the server, stored nowhere."""
        return [event for event in self.requests_since(mark, users) if is_dry_run(event)]

    def count_writes(self, mark: int, users=("admin", "operator")) -> Counter:
        return Counter(event["verb"] for event in self.writes_since(mark, users))

    def describe(self, events: list) -> str:
        """One line per write, for assertion messages."""
        return "\n".join(
            f"{e['verb']} {e.get('objectRef', {}).get('resource')}/{e.get('objectRef', {}).get('name')}"
            f"{'/' + e['objectRef']['subresource'] if e.get('objectRef', {}).get('subresource') else ''}"
            f" by {e['user']['username']} -> {e.get('responseStatus', {}).get('code')}"
            for e in events
        )


def main(argv=None) -> int:
    """python -m tests.harness.audit LOG MARK: print the writes since byte offset MARK, then their count."""
    import sys
    import time

    log, mark = Path(argv[0] if argv else sys.argv[1]), int(argv[1] if argv else sys.argv[2])
    size = -1
    while size != log.stat().st_size:  # the apiserver appends asynchronously: wait until the log is still
        size = log.stat().st_size
        time.sleep(0.5)
    audit = AuditLog(log)
    events = audit.writes_since(mark)
    if events:
        print(audit.describe(events))
    print(len(events))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

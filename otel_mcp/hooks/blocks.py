"""How many times in a row a host hook has kept an agent from stopping, so it can stop blocking.

A stop hook that blocks while a gate fails would loop forever when the agent cannot make the gate
pass. The count of consecutive blocks lives in a small JSON file per session (and per subagent or
task), in a `hooks/` folder beside the store; allowing a stop removes it. A series whose last block
is older than `SERIES_GAP_S` is over (the person interrupted and came back later), so it restarts.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

__all__ = ["SERIES_GAP_S", "BlockCounter"]

SERIES_GAP_S = 1800


class BlockCounter:
    """Consecutive blocks for one key (a host's session, subagent or task) in `folder`."""

    def __init__(self, folder: Path, host: str, key: str) -> None:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        self.path = folder / f"{host}-{digest}.json"

    def count(self, now: float | None = None) -> int:
        """Blocks so far in the current series (0 when there is none or it lapsed)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            blocks, last = int(data["blocks"]), float(data["last"])
        except FileNotFoundError:
            return 0
        except (OSError, ValueError, KeyError, TypeError):
            return 0  # a damaged counter starts a new series rather than trapping the agent
        return blocks if (now or time.time()) - last < SERIES_GAP_S else 0

    def record(self, now: float | None = None) -> int:
        """Count one more block; returns the new count. Raises OSError if the file cannot be written."""
        blocks = self.count(now) + 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps({"blocks": blocks, "last": now or time.time()}), encoding="utf-8")
        os.replace(partial, self.path)  # atomic: a concurrent reader sees the old count or the new one
        return blocks

    def reset(self) -> None:
        """The agent may stop: the next block starts a new series."""
        self.path.unlink(missing_ok=True)

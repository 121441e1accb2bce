"""What an app root keeps while the app runs a release `aitbc-infra rollback` put back:
APP_ROOT/.aitbc-rollback (host_names.ROLLBACK_RECORD), one JSON line, ASCII only:

  v         1, the line's shape
  release   the release the app was rolled back to (what its .venv links to)
  from      the release live before that rollback
  data      the data's release: the one the last deploy left live (a second rollback keeps
            the first one's), which the next deploy puts back unless told to keep rollbacks
  operator  who rolled it back (history.operator)
  time      when (UTC, ISO 8601)
  message   the rollback's --message, or null

The rollback writes it once the release passed its gate (deploys/scripts/rollback.sh), and
removes it when the release it puts back is the data's; `status` shows it; the deploy reads
only whether it is there (deploys/state.py) and removes it once the data's release is live
again (deploys/apps.py). Values read back are a host's: shown escaped (history.printable).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

VERSION = 1
RECORD_MAX = 4096  # bytes of the line read back (status.sh reads no more)
_TEXT = ("release", "from", "data", "operator", "time")


@dataclass(frozen=True)
class Record:
    release: str
    from_release: str
    data: str
    operator: str
    time: str
    message: str | None = None

    def encode(self) -> str:
        """The record's one line (no newline): ASCII JSON, every value escaped."""
        return json.dumps({"v": VERSION, "release": self.release, "from": self.from_release,
                           "data": self.data, "operator": self.operator, "time": self.time,
                           "message": self.message}, ensure_ascii=True, separators=(",", ":"))

    def document(self) -> dict:
        """As `status --json` shows it (schemas/status.json, `$defs/rollback`)."""
        return {"release": self.release, "from": self.from_release, "data": self.data,
                "operator": self.operator, "time": self.time, "message": self.message}


def parse(line: str) -> Record | str:
    """The record a line holds, or why it holds none (a line a person or another version
    wrote): never an exception."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        return f"not JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    if data.get("v") != VERSION:
        return f"version {json.dumps(data.get('v'))[:20]}, this aitbc-infra reads {VERSION}"
    wrong = [k for k in _TEXT if not isinstance(data.get(k), str)]
    message = data.get("message")
    if message is not None and not isinstance(message, str):
        wrong.append("message")
    if wrong:
        return f"no text for {', '.join(wrong)}"
    return Record(data["release"], data["from"], data["data"], data["operator"], data["time"],
                  message)

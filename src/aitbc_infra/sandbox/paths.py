"""Where the sandbox keeps its state (per checkout) and its image cache (per machine)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aitbc_infra import PROJECT_ROOT

# Per checkout, gitignored: keys, pids, overlays, logs. Removing it forgets a running fleet,
# so `down` first, then delete.
STATE_DIR = PROJECT_ROOT / ".sandbox"
# Per machine: a debootstrap takes ~70 s; fresh clones on the same machine reuse it.
IMAGE_CACHE = Path("/var/cache/aitbc-infra/images")
# Per machine: the state directory of the checkout whose sandbox runs here (owner.py).
OWNER_FILE = Path("/run/aitbc-infra/sandbox-owner")


@dataclass(frozen=True)
class Paths:
    state: Path = STATE_DIR
    image_cache: Path = IMAGE_CACHE
    owner_file: Path = OWNER_FILE

    @property
    def key(self) -> Path:
        return self.state / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.state / "ssh_config"

    @property
    def inventory(self) -> Path:
        return self.state / "inventory.py"

    @property
    def plan(self) -> Path:
        """The machines and bridges of the sandbox as last brought up (what `down` removes)."""
        return self.state / "plan.json"

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def pebble(self) -> Path:
        return self.state / "pebble"

    @property
    def pebble_ca(self) -> Path:
        return self.pebble / "ca.pem"

    @property
    def pebble_root(self) -> Path:
        """The root CA pebble signs site certificates with (not its listener's CA)."""
        return self.pebble / "root.pem"

    @property
    def secrets(self) -> Path:
        return self.state / "secrets.env"

    @property
    def host_keys(self) -> Path:
        return self.state / "host_keys"

    def machine_dir(self, name: str) -> Path:
        """overlay upper/work dirs and the merged mount point of one machine."""
        return self.state / "machines" / name


def paths() -> Paths:
    return Paths()

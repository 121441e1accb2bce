"""Facts pyinfra does not ship: small reads our idempotency decisions rest on."""

from pyinfra.api import FactBase


class FileContent(FactBase):
    """The text of a small file, or "" when it is missing."""

    def command(self, path: str) -> str:
        return f"cat {path} 2>/dev/null || true"

    def process(self, output) -> str:
        return "\n".join(output).strip()


class PathExists(FactBase):
    """Whether a path exists, following symlinks (certbot's live/ files are links)."""

    def command(self, path: str) -> str:
        return f"test -e {path} && echo yes || echo no"

    def process(self, output) -> bool:
        return "".join(output).strip() == "yes"


class LiveRulesDigest(FactBase):
    """A digest of the live iptables rules (both backends), packet counters left out."""

    SHELL = ("{ iptables-save; iptables-legacy-save; } 2>/dev/null | grep -v '^#' "
             "| sed 's/\\[[0-9]*:[0-9]*\\]//' | sha256sum | cut -d' ' -f1")

    def command(self) -> str:
        return self.SHELL

    def process(self, output) -> str:
        return "\n".join(output).strip()

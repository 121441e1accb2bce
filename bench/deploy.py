"""Deploy timings on the sandbox, in one run (needs root; reboots the sandbox fresh):

1. first deploy onto bare machines,
2. a no-op redeploy,
3. a baseline pyinfra run that only connects and reads one fact per host.

Target: the no-op redeploy within 1.5x the baseline. Usage: python bench/deploy.py
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.deploy import pyinfra_command
from aitbc_infra.sandbox import down, ensure_up


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed


def measure(source: Path, runs: int = 1) -> dict[str, float]:
    """Boot the sandbox for `source` bare, then time the first deploy, and the no-op redeploy
    and the baseline as the median of `runs` paired runs (load on the machine hits both alike)."""
    quiet = lambda _line: None  # noqa: E731 - progress lines would drown the figures
    down(quiet)
    inventory = ensure_up(quiet, inventory=source)
    pyinfra = Path(sys.executable).with_name("pyinfra")
    first = timed(pyinfra_command(inventory))
    noop, baseline = [], []
    for _ in range(runs):
        noop.append(timed(pyinfra_command(inventory)))
        baseline.append(timed([str(pyinfra), "-y", str(inventory), "fact", "server.Hostname"]))
    return {"first": first, "noop": statistics.median(noop),
            "baseline": statistics.median(baseline)}


def main() -> None:
    row = measure(PROJECT_ROOT / "inventory.py")
    print(f"first deploy (bare hosts)  {row['first']:6.1f} s")
    print(f"no-op redeploy             {row['noop']:6.1f} s")
    print(f"baseline (connect + fact)  {row['baseline']:6.1f} s")
    print(f"no-op / baseline           {row['noop'] / row['baseline']:6.1f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()

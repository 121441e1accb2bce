"""Deploy timings on the sandbox, in one run (needs root; reboots the sandbox fresh):

1. first deploy onto bare machines,
2. a no-op redeploy,
3. a baseline pyinfra run that only connects and reads one fact per host.

Target: the no-op redeploy within 3x the baseline. Usage: python bench/deploy.py
"""

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


def main() -> None:
    quiet = lambda _line: None  # noqa: E731 - progress lines would drown the figures
    down(quiet)
    inventory = ensure_up(quiet)
    pyinfra = Path(sys.executable).with_name("pyinfra")
    first = timed(pyinfra_command(inventory))
    noop = timed(pyinfra_command(inventory))
    baseline = timed([str(pyinfra), "-y", str(inventory), "fact", "server.Hostname"])
    print(f"first deploy (bare hosts)  {first:6.1f} s")
    print(f"no-op redeploy             {noop:6.1f} s")
    print(f"baseline (connect + fact)  {baseline:6.1f} s")
    print(f"no-op / baseline           {noop / baseline:6.1f}x (target <= 3x)")


if __name__ == "__main__":
    main()

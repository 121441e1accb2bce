"""Peak memory of a release's key and tar over a tree holding one large file (target: < 100 MiB).

The tree is one small source file and a sparse file of --size-mib MiB; a child process computes
the release key (every file hashed) and writes the release tar, as a deploy does, and the peak
RSS of that child (ru_maxrss of RUSAGE_CHILDREN) is the figure. A child that only imports the
same modules gives the interpreter's own share. --src measures another checkout's code (the
one before the streamed tar read each file whole and kept the tar in memory).

Usage: python bench/tar_memory.py [--size-mib 1024] [--src DIR]
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from aitbc_infra import PROJECT_ROOT

_CHILD = """
import sys
from pathlib import Path
from aitbc_infra.wheelhouse import ReleaseInputs, _write_tree_tar
if sys.argv[1] == "build":
    root = Path(sys.argv[2])
    inputs = ReleaseInputs(app="bench", trees=(("app", root / "app"),))
    inputs.key()
    _write_tree_tar(inputs.trees, root / "release.tar")
"""


def _peak_mib(src: Path, *args: str) -> float:
    """ru_maxrss of one child, in MiB: the children's figure is their maximum, so each child
    runs in a fresh process of its own (this one's children are waited for one at a time)."""
    script = [sys.executable, "-c",
              "import resource, subprocess, sys;"
              "subprocess.run(sys.argv[1:], check=True);"
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
              sys.executable, "-c", _CHILD, *args]
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(script, env=env, check=True, capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--src", type=Path, default=PROJECT_ROOT / "src",
                        help="the src/ directory whose code is measured (default: this one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aitbc-tar-memory-") as tmp:
        app = Path(tmp) / "app"
        app.mkdir()
        (app / "main.py").write_text("print('hello')\n")
        with (app / "large.bin").open("wb") as f:
            f.truncate(args.size_mib << 20)  # sparse: no disk, the same bytes to read
        baseline = _peak_mib(args.src, "import")
        peak = _peak_mib(args.src, "build", tmp)
        tar_mib = (Path(tmp) / "release.tar").stat().st_size / (1 << 20)
    print(f"release key + tar of a {args.size_mib} MiB file ({tar_mib:.0f} MiB tar), "
          f"code of {args.src}: peak RSS {peak:.1f} MiB (imports alone {baseline:.1f} MiB; "
          f"target < 100 MiB)")


if __name__ == "__main__":
    main()

"""Wall time of the whole `aitbc-infra check` on large route tables (target: under 5 s each).

Two variants of the production inventory, each built in a temporary directory:

- routes: the container site with N extra proxy, static and status routes;
- redirects: a chain of N redirects /r0 → /r1 → ... → /r{N-1} → /health.

Usage: python bench/check.py [--sizes 1000 5000] [--variants routes redirects] [--runs N]
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aitbc_infra import PROJECT_ROOT

CONTAINER_DATA = "group_data/aitbc_container.py"


def extra_routes(n: int) -> str:
    """A statement extending the container site by n proxy, static and status routes."""
    return (
        'nginx_sites[0]["routes"] += [\n'
        '    {"location": f"/bench/p{i}/", "type": "proxy", "service": "coordinator-api"}\n'
        '    if i % 3 == 0 else {"location": f"/bench/s{i}/", "type": "static"}\n'
        '    if i % 3 == 1 else {"location": f"/bench/h{i}", "match": "exact", "type": "status",\n'
        '                        "status": 200, "body": "OK"}\n'
        f"    for i in range({n})\n"
        "]\n"
    )


def redirect_chain(n: int, last: str = "/health") -> str:
    """A statement adding /r0 → /r1 → ... → /r{n-1} → `last` to the container site."""
    return (
        'nginx_sites[0]["routes"] += [\n'
        '    {"location": f"/r{i}", "match": "exact", "type": "redirect",\n'
        f'     "to": f"/r{{i + 1}}" if i < {n - 1} else {last!r}}}\n'
        f"    for i in range({n})\n"
        "]\n"
    )


def make_variant(directory: Path, statement: str) -> Path:
    """inventory.py and group_data/ copied into `directory`, `statement` appended to the container's."""
    shutil.copy(PROJECT_ROOT / "inventory.py", directory / "inventory.py")
    shutil.copytree(PROJECT_ROOT / "group_data", directory / "group_data",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with (directory / CONTAINER_DATA).open("a") as data:
        data.write("\n" + statement)
    return directory / "inventory.py"


def timed_check(inventory: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "aitbc_infra", "check", "--inventory", str(inventory)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True)
    return time.perf_counter() - start, proc


VARIANTS = {"routes": extra_routes, "redirects": redirect_chain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    failed = False
    for variant in args.variants:
        for size in args.sizes:
            with tempfile.TemporaryDirectory(prefix="aitbc-bench-check-") as tmp:
                inventory = make_variant(Path(tmp), VARIANTS[variant](size))
                timings = []
                for _ in range(args.runs):
                    elapsed, proc = timed_check(inventory)
                    timings.append(elapsed)
            verdict = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
            print(f"check, {variant:9} {size:5}: median {statistics.median(timings):6.2f} s "
                  f"over {args.runs} run(s), {verdict} (target < 5 s)", flush=True)
            if proc.returncode != 0:
                failed = True
                print((proc.stdout + proc.stderr)[-2000:], file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

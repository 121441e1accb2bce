"""Time to load, validate and render the whole production site (target: under 1 s).

Usage: python bench/render.py [--runs N]
"""

import argparse
import statistics
import time

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.loader import load_fleet
from aitbc_infra.render import render_fleet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        rendered = render_fleet(load_fleet(PROJECT_ROOT / "inventory.py"))
        timings.append(time.perf_counter() - start)
    files = sum(len(f) for f in rendered.values())
    print(f"load + validate + render {len(rendered)} hosts, {files} files: "
          f"first {timings[0] * 1000:.0f} ms, median {statistics.median(timings) * 1000:.0f} ms "
          f"over {runs} runs (target < 1000 ms)")


if __name__ == "__main__":
    main()

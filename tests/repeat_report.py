"""What `./dev test --repeat N` prints at the end: every test that failed in any of the runs.

Usage: python tests/repeat_report.py RUN.xml ... (the JUnit reports of the runs, in order).
Exit 0 when every test passed in every run, 1 when one failed at least once, 2 when a run
left no report (it died before pytest could write one).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path


def outcomes(report: Path) -> dict[str, str]:
    """test id -> passed | failed | error | skipped, from one JUnit report."""
    found = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        found[name] = next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")
    return found


def main(paths: list[str]) -> int:
    runs = [Path(p) for p in paths]
    missing = [p for p in runs if not p.is_file()]
    if missing:
        print(f"no report from run(s): {', '.join(map(str, missing))}")
        return 2
    failed: dict[str, list[int]] = defaultdict(list)
    total = 0
    for number, report in enumerate(runs, 1):
        results = outcomes(report)
        total = max(total, len(results))
        for name, outcome in results.items():
            if outcome in ("failure", "error", "skipped"):
                failed[name].append(number)
    print(f"{len(runs)} run(s) of {total} test(s)")
    for name, numbers in sorted(failed.items()):
        print(f"  FAILED in run(s) {', '.join(map(str, numbers))} of {len(runs)}: {name}")
    print("every test passed in every run" if not failed else f"{len(failed)} test(s) failed at least once")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

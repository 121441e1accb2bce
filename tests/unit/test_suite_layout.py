"""The suites run in one pytest session (tests/unit and tests/sandbox, without packages):
two test modules of one name would stop collection of the whole run."""

from __future__ import annotations

from collections import Counter

from aitbc_infra import PROJECT_ROOT


def test_no_two_test_modules_share_a_name():
    names = Counter(p.name for suite in ("unit", "sandbox")
                    for p in (PROJECT_ROOT / "tests" / suite).glob("test_*.py"))
    assert [n for n, count in names.items() if count > 1] == []

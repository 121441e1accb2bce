"""`aitbc-infra verify --json`: each check's outcome, by host, as one document
(schemas/verify.json).

The suite runs in its own pytest process; this module is also a pytest plugin loaded there
(`-p aitbc_infra.verify_report`): it notes the host of every check (its `node` parameter, which
every check of tests/verify/ has) and each one's outcome, and at the end writes them to the file
named by REPORT_ENV. `verify_document` turns that file's content into the document. The plugin
imports neither pytest nor the project: hooks are plain functions, and the command line that
reads the report stays as light as it was.
"""

from __future__ import annotations

import json
import os

REPORT_ENV = "AITBC_VERIFY_REPORT"
PLUGIN = __name__
VERSION = 1  # of the document's shape

PASSED, FAILED, SKIPPED, NOT_RUN = "passed", "failed", "skipped", "not_run"
OUTCOMES = (PASSED, FAILED, SKIPPED, NOT_RUN)

_checks: dict[str, dict] = {}  # pytest node id -> the check, in the order collected
_errors: list[str] = []  # what stopped a test module from being collected


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        node = callspec.params.get("node") if callspec else None
        _checks[item.nodeid] = {
            "host": node if isinstance(node, str) else None,
            "check": callspec.id if callspec else item.name,  # `host: what is checked`
            "test": getattr(item, "originalname", item.name),
            "outcome": NOT_RUN,
            "message": None,
        }


def _message(report) -> str | None:
    """What a failure or skip says: the exception's own message (a skip: its reason), never
    the traceback, which the log on stderr has."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    if isinstance(report.longrepr, tuple):  # a skip: (file, line, reason)
        return str(report.longrepr[2])
    return str(report.longrepr) if report.longrepr else None


def pytest_runtest_logreport(report) -> None:
    check = _checks.get(report.nodeid)
    if check is None:
        return
    # Setup, call and teardown each report: a failure in any fails the check, a skip skips it.
    if report.failed and check["outcome"] != FAILED:
        check["outcome"], check["message"] = FAILED, _message(report)
    elif report.skipped and check["outcome"] in (NOT_RUN, PASSED):
        check["outcome"], check["message"] = SKIPPED, _message(report)
    elif report.passed and report.when == "call" and check["outcome"] == NOT_RUN:
        check["outcome"] = PASSED


def pytest_collectreport(report) -> None:
    if report.failed:
        tail = str(report.longrepr).strip().splitlines()[-15:]
        _errors.append(f"{report.nodeid or 'collection'}: " + "\n".join(tail))


def pytest_sessionfinish(session, exitstatus) -> None:
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "w") as out:
            json.dump({"exit_status": int(exitstatus), "checks": list(_checks.values()),
                       "errors": _errors}, out)


def verify_document(report: dict | None, returncode: int, inventory: str) -> dict:
    """The document for the suite's `report` (None: it ended without writing one) and its exit
    status: 0 every check passed, 1 some failed; anything else, or no report, means the suite
    did not run to its end (interrupted, a usage or collection error, no check collected)."""
    checks = report["checks"] if report else []
    errors = report["errors"] if report else ["the suite ended without a report: see the log"]
    result = ("error" if report is None or returncode not in (0, 1)
              else PASSED if returncode == 0 else FAILED)
    hosts: dict[str, dict[str, int]] = {}
    for check in checks:
        if check["host"] is not None:
            counts = hosts.setdefault(check["host"], dict.fromkeys(OUTCOMES, 0))
            counts[check["outcome"]] += 1
    return {
        "version": VERSION,
        "command": "verify",
        "inventory": inventory,
        "exit_code": 0 if result == PASSED else 1,
        "result": result,
        "totals": {"checks": len(checks),
                   **{o: sum(c["outcome"] == o for c in checks) for o in OUTCOMES}},
        "hosts": dict(sorted(hosts.items())),
        "checks": checks,
        "errors": errors,
    }

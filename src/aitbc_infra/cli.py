"""The `aitbc-infra` command line: one subcommand per job, each with its own --help."""

from __future__ import annotations

import argparse
import functools
import sys

from aitbc_infra.commands import register_offline
from aitbc_infra.deploy import register_deploy
from aitbc_infra.diff import register_diff
from aitbc_infra.errors import UserError
from aitbc_infra.history_command import register_history
from aitbc_infra.provision import register_provision
from aitbc_infra.rollback_command import register_rollback
from aitbc_infra.sandbox import outside_view
from aitbc_infra.sandbox.cli import register as register_sandbox
from aitbc_infra.status_command import register_status
from aitbc_infra.verify import register_verify

# In the order `--help` lists them. This module alone outside sandbox/ imports the sandbox
# (tests/unit/test_layering.py): its subcommands, and the outside view `verify` sees it from.
REGISTRARS = (register_offline, register_diff, register_deploy, register_provision,
              functools.partial(register_verify, outside_view=outside_view), register_history,
              register_status, register_rollback, register_sandbox)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aitbc-infra",
        description="Model, render, check, deploy and verify the AITBC infrastructure.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in REGISTRARS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"aitbc-infra {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

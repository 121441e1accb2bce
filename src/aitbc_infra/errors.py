"""Errors shared by every subcommand."""


class UserError(Exception):
    """A problem the operator can fix; printed without a traceback, exit status 2."""

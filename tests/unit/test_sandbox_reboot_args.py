"""`aitbc-infra sandbox reboot` refuses bad arguments before it touches anything."""

from __future__ import annotations

import pytest

from aitbc_infra.cli import main


@pytest.mark.parametrize(("argv", "message"), [
    # The machines are the running sandbox's (none when it is down): named either way.
    (["nosuch"], "unknown machine nosuch; one of: "),
    ([], "name the machines to reboot, or --all (not both)"),
    (["--all", "at1"], "name the machines to reboot, or --all (not both)"),
])
def test_bad_arguments_exit_2_naming_the_problem(argv, message, capsys):
    assert main(["sandbox", "reboot", *argv]) == 2
    assert message in capsys.readouterr().err


def test_help_says_which_machines(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["sandbox", "reboot", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "machines of the running sandbox" in out and "--all" in out

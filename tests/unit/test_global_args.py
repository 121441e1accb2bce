"""deploys/global_args.py gives pyinfra's global arguments, as pyinfra's own function does."""

from __future__ import annotations

from pyinfra.api import arguments, facts

from deploys import global_args


def test_same_arguments_as_pyinfra():
    theirs = global_args.pyinfra_all_global_arguments()
    ours = global_args.all_global_arguments()
    assert ours == theirs
    assert ("_sudo", bool) in ours  # real content, not two empty lists
    ours.clear()  # a caller changing its list does not change the next caller's
    assert global_args.all_global_arguments() == theirs


def test_install_replaces_what_operations_and_facts_call(monkeypatch):
    monkeypatch.setattr(arguments, "all_global_arguments", global_args.pyinfra_all_global_arguments)
    monkeypatch.setattr(facts, "all_global_arguments", global_args.pyinfra_all_global_arguments)
    global_args.install()
    assert arguments.all_global_arguments is global_args.all_global_arguments
    assert facts.all_global_arguments is global_args.all_global_arguments

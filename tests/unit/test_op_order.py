"""deploys/op_order.py gives pyinfra's operation order, as pyinfra's own function does."""

from __future__ import annotations

from types import SimpleNamespace

import pyinfra
import pytest
from pyinfra.api.util import get_operation_order_from_stack

from deploys import op_order
from deploys.op_order import pyinfra_operation


def _both(state):
    # One line: both see the same frames, this one included.
    return get_operation_order_from_stack(state), op_order.operation_order(state)


def _nested(state, depth):
    return _nested(state, depth - 1) if depth else _both(state)


@pytest.mark.parametrize("deploy_file", [__file__, "/nowhere/deploy.py", None])
@pytest.mark.parametrize("is_cli", [True, False])
@pytest.mark.parametrize("depth", [0, 3])
def test_same_order_as_pyinfra(monkeypatch, deploy_file, is_cli, depth):
    monkeypatch.setattr(pyinfra, "is_cli", is_cli)
    state = SimpleNamespace(current_deploy_filename=deploy_file, current_op_file_number=7)
    theirs, ours = _nested(state, depth)
    assert ours == theirs
    if deploy_file != "/nowhere/deploy.py":  # real line numbers, not an empty list on both sides
        assert len(ours) > 2


def test_install_replaces_what_operations_call(monkeypatch):
    monkeypatch.setattr(pyinfra_operation, "get_operation_order_from_stack",
                        get_operation_order_from_stack)
    op_order.install()
    assert pyinfra_operation.get_operation_order_from_stack is op_order.operation_order

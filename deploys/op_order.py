"""The order of each operation, read from the frames that added it, without inspect.stack().

pyinfra orders operations by the line numbers of the call stack that added them
(`pyinfra.api.util.get_operation_order_from_stack`). It reads those with `inspect.stack()`,
which also loads every frame's source lines and searches `sys.modules` for its module: done
for every operation of every host, that was most of the CPU a no-op run adds to connecting
(on 16 hosts more than the deploy's own code). The same line numbers come straight from the
frames. `install()` puts this version in pyinfra's place; tests/unit/test_op_order.py holds it
to the same result as pyinfra's own.
"""

from __future__ import annotations

import importlib
import sys

import pyinfra
from pyinfra.api.util import PYINFRA_INSTALL_DIR

# The module, not the `operation` decorator that `pyinfra.api` exports under the same name.
pyinfra_operation = importlib.import_module("pyinfra.api.operation")


def operation_order(state) -> list[int]:
    """What `get_operation_order_from_stack(state)` returns, called from the same place."""
    frames = []
    frame = sys._getframe(1)  # the caller's: pyinfra's own frames are skipped below anyway
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()  # outermost first
    start = 0
    if state.current_deploy_filename:  # from the deploy file's first (outermost) frame;
        # pyinfra keeps only its own innermost frame when the file is not on the stack
        start = next((i for i, f in enumerate(frames)
                      if f.f_code.co_filename == state.current_deploy_filename), len(frames))
    lines = [state.current_op_file_number] if pyinfra.is_cli else []
    lines += [f.f_lineno for f in frames[start:]
              if not f.f_code.co_filename.startswith(PYINFRA_INSTALL_DIR)]
    return lines


def install() -> None:
    pyinfra_operation.get_operation_order_from_stack = operation_order

"""The deploy lock's one use of pyinfra internals: the paramiko client of its SSH connector.

pyinfra has no public way to keep a command running on its connection, so `deploys/lock.py`
reads `SSHConnector.client`. These tests fail loudly when that attribute, or what it holds,
changes under a pyinfra upgrade, instead of the lock silently running somewhere else.
"""

from __future__ import annotations

from importlib.metadata import version

import paramiko
import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.connectors import ssh
from pyinfra.connectors.local import LocalConnector

from deploys.lock import CHECKED_PYINFRA, ssh_client


def _hosts(*names: str) -> dict:
    inventory = Inventory((list(names), {}))
    State(inventory, Config())  # gives every host its connector
    return {h.name: h for h in inventory}


def test_installed_pyinfra_is_one_lock_py_was_checked_against():
    assert version("pyinfra") in CHECKED_PYINFRA, (
        f"pyinfra {version('pyinfra')}: re-read pyinfra/connectors/ssh.py (does connect() still "
        "set SSHConnector.client to a paramiko SSHClient?), then add it to CHECKED_PYINFRA")


def test_ssh_connector_declares_a_paramiko_client():
    assert "client" in ssh.SSHConnector.__annotations__, "SSHConnector.client is gone"
    assert "SSHClient" in str(ssh.SSHConnector.__annotations__["client"])
    assert issubclass(ssh.SSHClient, paramiko.SSHClient)
    assert callable(paramiko.SSHClient.get_transport)
    assert callable(paramiko.Transport.open_session)


def test_an_unconnected_ssh_host_is_refused_by_name():
    host = _hosts("web1.example.net")["web1.example.net"]
    assert isinstance(host.connector, ssh.SSHConnector)
    assert host.connector.client is None  # set only by connect()
    with pytest.raises(RuntimeError, match="web1.example.net: pyinfra's SSH connector holds no"):
        ssh_client(host.connector)


def test_a_local_host_has_no_ssh_client():
    host = _hosts("@local")["@local"]
    assert isinstance(host.connector, LocalConnector)
    assert ssh_client(host.connector) is None

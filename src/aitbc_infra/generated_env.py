"""The environment the model itself gives a service: each name, what sets it, and its value.

This table is the one list of those names. The render writes them into the service's env file
(`render.service_env`); the data may not name one in an app's or a service's `env`, `secrets`
or `secret_lists` (`Fleet.cross_check` refuses it, naming host, app, field and name), so no
value typed and checked here (the chain's id, the validated CORS origins, the socket's address)
is ever replaced by a string or a secret of the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aitbc_infra.endpoints import listen
from aitbc_infra.model import App, EnvValue, HostSpec, Service


@dataclass(frozen=True)
class Given:
    """What one service's environment is made from; `peer_url` resolves a chain peer
    (`Fleet.peer_url`, passed in: the fleet builds on this table, not the reverse)."""

    host: HostSpec
    app: App
    svc: Service
    peer_url: Callable[[str], str]


@dataclass(frozen=True)
class Generated:
    source: str  # what sets it, as a refusal names it
    value: Callable[[Given], EnvValue | None]  # None: not set for this service


GENERATED_ENV: dict[str, Generated] = {
    "ALLOW_ORIGINS": Generated("the host's cors_origins, for an app with cors",
                               lambda g: list(g.host.cors_origins) if g.app.cors else None),
    "CHAIN_ID": Generated("chain.chain_id, for an app with chain",
                          lambda g: g.host.chain.chain_id if g.app.chain else None),
    "BLOCK_TIME_SECONDS": Generated("chain.block_time_seconds, for an app with chain",
                                    lambda g: g.host.chain.block_time_seconds if g.app.chain
                                    else None),
    "SYNC_INTERVAL_SECONDS": Generated("chain.sync_interval_seconds, for an app with chain",
                                       lambda g: g.host.chain.sync_interval_seconds
                                       if g.app.chain else None),
    "PEERS": Generated("the app's peers, for an app with chain",
                       lambda g: [g.peer_url(p) for p in g.app.peers] if g.app.chain else None),
    "RPC_BIND_HOST": Generated("the service's port and bind",
                               lambda g: listen(g.host, g.svc).address if g.svc.port else None),
    "RPC_BIND_PORT": Generated("the service's port", lambda g: g.svc.port),
}

# Set by systemd for a unit started with its socket (every service with a port): an env file
# line would override them, and the process would look for another socket than its own.
SYSTEMD_ENV = {name: "systemd, for the service's socket"
               for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")}

# Every name the data may not set, and what sets it instead.
RESERVED_ENV: dict[str, str] = {**{n: g.source for n, g in GENERATED_ENV.items()}, **SYSTEMD_ENV}


def generated_env(given: Given) -> dict[str, EnvValue]:
    """The values the model sets for this service."""
    values = {name: g.value(given) for name, g in GENERATED_ENV.items()}
    return {name: value for name, value in values.items() if value is not None}

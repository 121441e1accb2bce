"""The environment the model itself gives a service: each name, what sets it, and its value.

This table is the one list of those names. The render writes them into the service's env file
(`render.service_env`); an app's `env_names` may give one another name (a newer release reads
`CORS_ORIGINS` where this one reads `ALLOW_ORIGINS`), and the data may not name one, as the
app calls it, in an app's or a service's `env`, `secrets` or `secret_lists`
(`Fleet.cross_check` refuses it, naming host, app, field and name), so no value typed and
checked here (the chain's id, the validated CORS origins, the socket's address) is ever
replaced by a string or a secret of the data.
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
    name: str  # the name it is set under, unless the app's env_names gives another
    source: str  # what sets it, as a refusal names it
    value: Callable[[Given], EnvValue | None]  # None: not set for this service
    # Whether some service of the app is given it: renaming what an app never gets would
    # rename nothing, and is refused.
    given_to: Callable[[App], bool]
    # Whether an app's `env_names` may give it another name (model.InjectedEnv).
    renamable: bool = True


def _listens(app: App) -> bool:
    return any(svc.port for svc in app.services)


# Keyed as an app's `env_names` names them (model.InjectedEnv), where they may be renamed.
GENERATED_ENV: dict[str, Generated] = {
    "allow_origins": Generated("ALLOW_ORIGINS", "the host's cors_origins, for an app with cors",
                               lambda g: list(g.host.cors_origins) if g.app.cors else None,
                               lambda app: app.cors),
    "chain_id": Generated("CHAIN_ID", "chain.chain_id, for an app with chain",
                          lambda g: g.host.chain.chain_id if g.app.chain else None,
                          lambda app: app.chain),
    "block_time_seconds": Generated("BLOCK_TIME_SECONDS",
                                    "chain.block_time_seconds, for an app with chain",
                                    lambda g: g.host.chain.block_time_seconds if g.app.chain
                                    else None, lambda app: app.chain),
    "sync_interval_seconds": Generated("SYNC_INTERVAL_SECONDS",
                                       "chain.sync_interval_seconds, for an app with chain",
                                       lambda g: g.host.chain.sync_interval_seconds
                                       if g.app.chain else None, lambda app: app.chain),
    "peers": Generated("PEERS", "the app's peers, for an app with chain",
                       lambda g: [g.peer_url(p) for p in g.app.peers] if g.app.chain else None,
                       lambda app: app.chain),
    "rpc_bind_host": Generated("RPC_BIND_HOST", "the service's port and bind",
                               lambda g: listen(g.host, g.svc).address if g.svc.port else None,
                               _listens),
    "rpc_bind_port": Generated("RPC_BIND_PORT", "the service's port", lambda g: g.svc.port,
                               _listens),
    # Python reads this name only: no app renames it.
    "python_path": Generated("PYTHONPATH", "the app's import_roots, in its release",
                             lambda g: g.app.python_path, lambda app: bool(app.import_roots),
                             renamable=False),
}

# Set by systemd for a unit started with its socket (every service with a port): an env file
# line would override them, and the process would look for another socket than its own. Their
# names are systemd's: no app renames them, and no name of the table may become one.
SYSTEMD_ENV = {name: "systemd, for the service's socket"
               for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")}

# Every name the data of an app without `env_names` may not set, and what sets it instead.
RESERVED_ENV: dict[str, str] = {**{g.name: g.source for g in GENERATED_ENV.values()},
                                **SYSTEMD_ENV}


def env_name(app: App, key: str) -> str:
    """The name `app` is given the model's value `key` under."""
    return app.env_names.get(key, GENERATED_ENV[key].name)


def reserved_env(app: App) -> dict[str, str]:
    """Every name the data of `app` may not set, as the app names it, and what sets it."""
    names = {env_name(app, key): g.source + (f"; named by env_names.{key}"
                                             if key in app.env_names else "")
             for key, g in GENERATED_ENV.items()}
    return {**names, **SYSTEMD_ENV}


def generated_env(given: Given) -> dict[str, EnvValue]:
    """The values the model sets for this service, under the names its app reads."""
    values = {env_name(given.app, key): g.value(given) for key, g in GENERATED_ENV.items()}
    return {name: value for name, value in values.items() if value is not None}

"""Services from Debian packages that the model configures: a host's PostgreSQL cluster and its
Redis, where they are, and the URLs an app's env reads them by.

Both listen on 127.0.0.1 only, where the URLs point: nothing of them answers on any other
address of the host, and only the host's own processes reach them.

- `{postgresql:DATABASE}` is `postgresql://OWNER:PASSWORD@127.0.0.1:PORT/DATABASE`: the
  database's owner role and its password, the value of the database's `password_secret` for
  the host's site, percent-encoded (offline: `<redacted:NAME>`). `{postgresql:DATABASE:DRIVER}`
  names a SQLAlchemy dialect's driver: `postgresql+DRIVER://...`. An env file holding one is a
  secret file (never shown in a diff), and each unit reading one starts after PostgreSQL.
- `{redis}` is `redis://127.0.0.1:PORT/0`, `{redis:N}` its logical database N.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from aitbc_infra.activation import Journal, Script
from aitbc_infra.host_names import (
    POSTGRESQL_JOURNAL,
    REDIS_JOURNAL,
    postgresql_cluster,
    postgresql_paths,
)
from aitbc_infra.model import DEBIAN_RELEASES, App, HostSpec, Service
from aitbc_infra.placeholders import database_argument, service_urls

LOOPBACK = "127.0.0.1"
# The units Debian's packages start: every PostgreSQL cluster (postgresql@VERSION-main is one,
# ordered before it), and Redis.
POSTGRESQL_UNIT = "postgresql"
REDIS_UNIT = "redis-server"
# Who owns PostgreSQL's files and runs its tools: the package's system user.
POSTGRES_USER = "postgres"
REDIS_USER = "redis"


@dataclass(frozen=True)
class Cluster:
    """The host's one PostgreSQL cluster, VERSION/main, as Debian lays it out."""

    version: int
    port: int

    @property
    def unit(self) -> str:
        return f"{POSTGRESQL_UNIT}@{postgresql_cluster(self.version)}"

    @property
    def paths(self) -> dict[str, str]:
        return postgresql_paths(self.version)


def cluster(host: HostSpec) -> Cluster | None:
    """The cluster of the host's Debian release, or None: the host runs no PostgreSQL."""
    if host.postgresql is None:
        return None
    return Cluster(DEBIAN_RELEASES[host.debian].postgresql, host.postgresql.port)


def postgresql_journal(c: Cluster) -> Journal:
    """The cluster's configuration (its drop-in and pg_hba.conf): checked by PostgreSQL itself,
    then reloaded, and restarted only when a setting read at its start changed (the address or
    port); started when the cluster does not run."""
    paths = c.paths
    return Journal(POSTGRESQL_JOURNAL,
                   validate=Script("postgresql", (
                       "validate", paths["programs"], paths["config"], paths["data"],
                       paths["sockets"])),
                   activate=Script("postgresql", (
                       "activate", POSTGRESQL_UNIT, c.unit, paths["data"], paths["sockets"],
                       LOOPBACK, str(c.port))),
                   effect="postgresql reload", service=POSTGRESQL_UNIT, running=c.unit)


# Redis has no check of a configuration short of starting with it: the values are the model's,
# typed and bounded, in a fixed template. A start it refuses fails the run and puts the
# previous file back.
REDIS = Journal(REDIS_JOURNAL, validate=("true",), activate=Script("service-restart", (REDIS_UNIT,)),
                effect="redis-server restart", service=REDIS_UNIT)


PasswordOf = Callable[[str], tuple[str, bool]]  # secret name -> (value, whether it is real)


def postgresql_url(host: HostSpec, argument: str, password_of: PasswordOf) -> str:
    """The URL `{postgresql:ARGUMENT}` stands for (validated: the database is the host's)."""
    assert host.postgresql is not None
    name, driver = database_argument(argument)
    database = host.postgresql.database(name)
    assert database is not None
    password, real = password_of(database.password_secret)
    # Percent-encoded: any character of the password stays inside the URL's password. The
    # offline stand-in is shown as it is, naming its secret.
    shown = quote(password, safe="") if real else password
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    return f"{scheme}://{database.owner}:{shown}@{LOOPBACK}:{host.postgresql.port}/{name}"


def redis_url(host: HostSpec, argument: str | None) -> str:
    """The URL `{redis}` or `{redis:N}` stands for."""
    assert host.redis is not None
    return f"redis://{LOOPBACK}:{host.redis.port}/{argument or 0}"


@dataclass(frozen=True)
class Reads:
    """What one service reads of its host's services from Debian packages."""

    databases: frozenset[str] = frozenset()
    redis: bool = False

    @property
    def units(self) -> list[str]:
        """The units it starts after (and wants): the services its URLs point at."""
        return ([f"{POSTGRESQL_UNIT}.service"] if self.databases else []) + (
            [f"{REDIS_UNIT}.service"] if self.redis else [])


def reads(app: App, svc: Service) -> Reads:
    found = service_urls(app, svc)
    return Reads(frozenset(d for d in found.get("postgresql", ()) if d), "redis" in found)


def owners_read(host: HostSpec, app: App, svc: Service) -> set[str]:
    """The roles whose passwords the env of `svc` holds (in its database URLs)."""
    if host.postgresql is None:
        return set()
    return {db.owner for db in host.postgresql.databases if db.name in reads(app, svc).databases}

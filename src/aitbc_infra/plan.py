"""A host's plan: every path the deploy manages on it, each with what a change sets off.

The render gives the files; the plan adds the directories they live in, the links, the trees
synced from this machine (the wheelhouse, the web content), the local files uploaded as they are
(provided certificates, the sandbox's CAs) and the paths the deploy only reads (a release's
marker, the venv link, an issued certificate). The deploy reads the state of all of them in one
round trip and changes only what differs; `diff` and the checks read the same files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import uv

from aitbc_infra.activation import NGINX, Activation, Journal
from aitbc_infra.databases import POSTGRESQL_UNIT, REDIS_UNIT, Cluster, cluster
from aitbc_infra.fleet import Fleet
from aitbc_infra.host_names import (
    ACME_WEBROOT,
    CA_DIR,
    FIREHOL_APPLIED_DIGEST,
    NGINX_AVAILABLE,
    NGINX_ENABLED,
    NGINX_LOG_DIR,
    PENDING_DIR,
    RELEASE_MARKER,
    SANDBOX_ACME_ROOT_CA,
    SANDBOX_ACME_SERVER_CA,
    TRUSTED_CAS_JOURNAL,
    UV_REMOTE,
    WHEELHOUSE_REMOTE,
)
from aitbc_infra.model import App, HostSpec, WebContent
from aitbc_infra.render import (
    RenderedFile,
    SecretLookup,
    certificate_files,
    certificate_lineage,
    redacted,
    render_host,
)

# A CA file is checked by the tool that adds it: nothing to validate first.
TRUSTED_CAS = Journal(TRUSTED_CAS_JOURNAL, validate=("true",),
                      activate=("update-ca-certificates",), effect="update-ca-certificates")


@dataclass(frozen=True)
class Directory:
    path: str
    mode: str
    user: str
    group: str


@dataclass(frozen=True)
class Link:
    path: str
    target: str | None  # None: no link may be there
    activation: Activation = None
    # A package the run installs may create it after the state was read (Debian's nginx
    # default site): removed even when the state said it was absent, while its directory
    # (read too) did not exist yet.
    may_appear: bool = False


# How the deploy writes a tree: its files root's and world-readable, its directories made so
# (a directory that exists is left as it is).
TREE_FILE_MODE = "0644"
TREE_DIR_MODE = "0755"


@dataclass(frozen=True)
class Tree:
    """A directory made to hold exactly the files of a local one, built by the deploy."""

    path: str
    source: WebContent | None  # None: the wheelhouse
    keep: tuple[str, ...] = ()  # subdirectories other trees own


@dataclass(frozen=True)
class Upload:
    """A local file uploaded as it is (not rendered: the deploy reads it when it runs)."""

    path: str
    local: str
    mode: str
    activation: Activation = None
    secret: bool = False


@dataclass(frozen=True)
class Role:
    """A PostgreSQL role the data declares: it logs in with the password of its secret."""

    name: str
    secret: str  # the secret's name, as messages name it
    password: str = field(repr=False)  # its value for the host's site (offline: the stand-in)


@dataclass(frozen=True)
class Databases:
    """The host's PostgreSQL cluster, and the roles and databases it must hold: they are no
    files, deploys/packaged.py makes them as the decision owes them."""

    cluster: Cluster
    roles: tuple[Role, ...]
    owners: tuple[tuple[str, str], ...]  # (database, its owner role)


@dataclass
class HostPlan:
    node: str
    files: list[RenderedFile]
    directories: list[Directory] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    trees: list[Tree] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)  # read only: what tells a step is owed
    probe_globs: list[str] = field(default_factory=list)  # DIR/*/NAME: read for every match
    # Each app's rollback record (aitbc_infra/rollback_record.py): there while a rollback's
    # release runs. Read, never planned: a converged host has none.
    rollback_records: list[str] = field(default_factory=list)
    # Read with the paths: the host's units (services, their sockets, nginx, firehol), its users,
    # groups and the packages it must have.
    units: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # unix_groups: besides each user's own
    packages: list[str] = field(default_factory=list)
    # On a firewall host: the file holding the digest of the rules firehol last applied, read
    # with the live rules' digest (firehol.service's state is one of the units).
    firewall_applied: str | None = None
    postgresql: Databases | None = None  # read with the rest: its roles and databases
    # The host's state of all the above is no part of the plan: deploys/state.py reads it once
    # per run and hands it to the operations beside the plan (aitbc_infra/drift.py: State).

    @cached_property
    def paths(self) -> tuple[str, ...]:
        """Every single path whose state the deploy reads (trees are walked besides)."""
        return tuple(sorted({*(f.path for f in self.files), *(d.path for d in self.directories),
                             *(link.path for link in self.links), *(u.path for u in self.uploads),
                             *self.probes, *self.rollback_records}))

    @cached_property
    def tree_paths(self) -> tuple[str, ...]:
        return tuple(sorted({PENDING_DIR, *(t.path for t in self.trees)}))

    @cached_property
    def _listed(self) -> frozenset[str]:
        return frozenset((*self.paths, *self.tree_paths))

    def holds(self, path: str) -> bool:
        """Whether the state read covers `path`."""
        return (path in self._listed
                or any(path.startswith(f"{t}/") for t in self.tree_paths)
                or any(_matches(path, g) for g in self.probe_globs))


def _matches(path: str, glob: str) -> bool:
    head, _, tail = glob.partition("/*/")
    rest = path.removeprefix(f"{head}/")
    return rest != path and rest.count("/") == 1 and rest.endswith(f"/{tail}")


def app_units(app: App) -> list[str]:
    """The units an app runs: each service (a scheduled job: its timer), and the socket of each
    that listens."""
    return [u for svc in app.services
            for u in (svc.started_unit, *([f"{svc.unit}.socket"] if svc.port else []))]


def uv_binary() -> str:
    """The local uv executable uploaded to UV_REMOTE: the one the deployer's own environment
    holds (PyPI's `uv` wheel carries it), uploaded as it is to every host with apps."""
    return uv.find_uv_bin()


def release_marker(app_releases: str, release_id: str) -> str:
    return f"{app_releases}/{release_id}/{RELEASE_MARKER}"


def host_plan(fleet: Fleet, host: HostSpec, secrets: SecretLookup = redacted) -> HostPlan:
    plan = HostPlan(host.node, render_host(fleet, host, secrets),
                    users=[u.name for u in host.users],
                    groups=[g.name for g in host.unix_groups],
                    packages=sorted(set(host.base_packages + host.packages)),
                    firewall_applied=FIREHOL_APPLIED_DIGEST if host.firewall else None,
                    units=["firehol"] if host.firewall else [])
    _apps(plan, host)
    _packaged(plan, host, secrets)
    _shared(plan, host)
    _nginx(plan, host)
    _tls(plan, host)
    _web(plan, host)
    return plan


def _apps(plan: HostPlan, host: HostSpec) -> None:
    plan.directories.append(Directory(host.env_dir, "0700", "root", "root"))
    for app in host.apps:
        # Code and venv stay root-owned: an app can write only its data directories.
        plan.directories += [Directory(app.root, "0755", "root", "root"),
                             Directory(app.releases, "0755", "root", "root")]
        plan.directories += [Directory(f"{app.root}/{d}", "0750", app.user, app.user)
                             for d in app.data_dirs]
        plan.probes.append(app.venv)
        plan.rollback_records.append(app.rollback_record)
        plan.probe_globs.append(f"{app.releases}/*/{RELEASE_MARKER}")
        plan.units += app_units(app)
    if host.apps:
        plan.trees.append(Tree(WHEELHOUSE_REMOTE, None))
        plan.uploads.append(Upload(UV_REMOTE, uv_binary(), "0755"))


def _packaged(plan: HostPlan, host: HostSpec, secrets: SecretLookup) -> None:
    """The services from Debian packages (their files are rendered): the units that run them,
    and PostgreSQL's roles and databases."""
    c = cluster(host)
    if c is not None and host.postgresql is not None:
        plan.units += [POSTGRESQL_UNIT, c.unit]
        plan.postgresql = Databases(
            c, tuple(Role(role, secret, secrets(host.node, secret))
                     for role, secret in host.postgresql.roles.items()),
            tuple((db.name, db.owner) for db in host.postgresql.databases))
    if host.redis is not None:
        plan.units.append(REDIS_UNIT)


def _shared(plan: HostPlan, host: HostSpec) -> None:
    """The shared directories, as the data gives them (shared_state.py holds them closed to
    every app not named); their generated files are rendered files."""
    plan.directories += [Directory(d.path, d.mode, d.owner, d.group) for d in host.shared_dirs]


def _nginx(plan: HostPlan, host: HostSpec) -> None:
    if not host.nginx_sites:
        return
    plan.links += [Link(f"{NGINX_ENABLED}/{s.config_name}", f"{NGINX_AVAILABLE}/{s.config_name}",
                        NGINX) for s in host.nginx_sites]
    # Debian's catch-all default site would answer for unknown names: ours are the only ones.
    plan.links.append(Link(f"{NGINX_ENABLED}/default", None, NGINX, may_appear=True))
    # nginx's workers reopen the logs after a rotation: www-data traverses, others cannot.
    plan.directories.append(Directory(NGINX_LOG_DIR, "0750", "www-data", "adm"))
    plan.probes.append(NGINX_ENABLED)
    plan.units.append("nginx")


def _tls(plan: HostPlan, host: HostSpec) -> None:
    for site in (s for s in host.nginx_sites if s.tls):
        chain, key = certificate_files(host, site)
        if host.sites[site.server_name].tls == "provided":
            given = host.tls_provided[certificate_lineage(host, site)]
            plan.uploads += [Upload(chain, given.fullchain, "0644", NGINX),
                             Upload(key, given.privkey, "0600", NGINX, secret=True)]
        else:
            plan.directories.append(Directory(ACME_WEBROOT, "0755", "root", "root"))
            plan.probes.append(chain)  # issued: certbot renews it
    if host.deploy_environment == "sandbox":
        # The sandbox's ACME server and root CA, trusted like a public CA in production.
        local = {SANDBOX_ACME_ROOT_CA: host.acme_root_file,
                 SANDBOX_ACME_SERVER_CA: host.acme_ca_bundle}
        plan.uploads += [Upload(f"{CA_DIR}/{name}", path, "0644", TRUSTED_CAS)
                         for name, path in local.items() if path]


def _web(plan: HostPlan, host: HostSpec) -> None:
    if not (host.web_content and host.site_root):
        return
    nested = tuple(c.path for c in host.web_content if c.path)
    for content in host.web_content:
        # The root's own tree leaves the SPA directories to their own trees.
        plan.trees.append(Tree(f"{host.site_root}/{content.path}".rstrip("/"), content,
                               keep=nested if not content.path else ()))

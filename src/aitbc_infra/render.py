"""Render every file a host needs from the model: the one source for deploy, diff and checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

import jinja2

from aitbc_infra import PROJECT_ROOT, lists
from aitbc_infra.activation import NGINX, Activation, Journal, Load, ReadBy, Restart, Script
from aitbc_infra.databases import (
    LOOPBACK,
    POSTGRES_USER,
    REDIS,
    REDIS_USER,
    cluster,
    postgresql_journal,
    postgresql_url,
    reads,
    redis_url,
)
from aitbc_infra.endpoints import candidate, listen
from aitbc_infra.fleet import Fleet, ModelError, Problem
from aitbc_infra.generated_env import Given, generated_env
from aitbc_infra.generated_files import GeneratedFileError
from aitbc_infra.generated_files import content as generated_content
from aitbc_infra.host_names import (
    ACME_WEBROOT,
    CERTIFICATE_CHAIN,
    CERTIFICATE_KEY,
    FIREHOL_APPLIED_DIGEST,
    FIREHOL_APPLY_UNIT,
    FIREHOL_CONF,
    FIREHOL_DEFAULTS,
    FIREHOL_JOURNAL,
    FIREHOL_REVERT_UNIT,
    FIREHOL_SWITCH,
    FIREHOL_SWITCH_DIR,
    INHERIT_SOCKET,
    LETSENCRYPT_LIVE,
    NGINX_AVAILABLE,
    NGINX_CATCH_ALL,
    NGINX_HTTP_SETTINGS,
    NGINX_LOG_DIR,
    NGINX_LOGROTATE,
    NGINX_UPGRADE_MAP,
    PENDING_DIR,
    POSTGRESQL_DROP_IN,
    POSTGRESQL_HBA,
    PROVIDED_CERTS,
    REDIS_CONF,
    SSHD_DROP_IN,
    SYSTEMD_DIR,
    candidate_unit,
    step_unit,
)
from aitbc_infra.host_scripts import program
from aitbc_infra.model import (
    REDIS_DATABASES,
    App,
    EnvValue,
    GeneratedFile,
    HostSpec,
    Route,
    Service,
    Site,
    Step,
)
from aitbc_infra.placeholders import fill
from aitbc_infra.secrets import RefusedSecretValues
from aitbc_infra.shared_state import access
from aitbc_infra.sshd import SSHD, UNIT, sections

TEMPLATES = PROJECT_ROOT / "templates"


@cache
def firehol_journal(confirm_seconds: int) -> Journal:
    """firehol's files: validated by `firehol CONF debug`; then a revert is armed that puts
    the previous rules and files back after `confirm_seconds`, and the rules are applied a
    second later, after the deploy's command returned; the deploy confirms them over a new
    SSH connection (deploys/firewall.py)."""
    return Journal(FIREHOL_JOURNAL, validate=Script("firehol-validate", (FIREHOL_CONF,)),
                   activate=Script("firehol-activate", (
                       FIREHOL_APPLIED_DIGEST, f"{PENDING_DIR}/{FIREHOL_JOURNAL}",
                       FIREHOL_SWITCH_DIR, FIREHOL_APPLY_UNIT, FIREHOL_REVERT_UNIT,
                       str(confirm_seconds), FIREHOL_SWITCH)),
                   effect="firehol reload", service="firehol")


# The rendered files systemd loads.
SYSTEMD_KINDS = ("unit", "socket", "candidate", "timer", "step")
# The file defining a unit the deploy starts: a service's unit file, or a scheduled job's timer.
STARTED_KINDS = ("unit", "timer")

# secret lookup: (host node, env var name) -> value
SecretLookup = Callable[[str, str], str]


def redacted(_node: str, name: str) -> str:
    """The offline stand-in for a secret: names it, never shows it."""
    return f"<redacted:{name}>"


@dataclass(frozen=True)
class RenderedFile:
    path: str  # absolute path on the host
    content: str
    # the format, for the checks: nginx | unit | socket | candidate | timer | step | env |
    # program | firehol | sshd | json | text (a generated file's) | postgresql | pg_hba | redis
    kind: str
    activation: Activation  # what a change to it sets off (aitbc_infra/activation.py)
    mode: str = "0644"
    owner: str = "root"
    group: str = "root"
    unit: str | None = None  # the unit or nginx site this file belongs to
    secret: bool = False  # carries secret values: never print its content


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # nginx, systemd and shell syntax, not HTML: escaped per field
    )
    env.filters["systemd_text"] = systemd_text
    env.filters["nginx_string"] = nginx_string
    return env


def systemd_text(value: str) -> str:
    """Free text in a unit file setting: no %-specifier keeps a meaning (the model refuses
    backslashes, which could continue the line)."""
    return value.replace("%", "%%")


def nginx_string(value: str) -> str:
    """Free text inside a double-quoted nginx string ('$' is refused by the model)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def render_template(name: str, **context) -> str:
    return _environment().get_template(name).render(**context)


def env_file_path(host: HostSpec, svc: Service) -> str:
    return f"{host.env_dir}/{svc.unit}.env"


def _quote_env(value: str) -> str:
    if "\n" in value:
        raise ValueError("environment values cannot span lines")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def encode_env(value: EnvValue, list_format: str) -> str:
    """A typed env value as the app reads it: lists in its list format (lists.py), booleans
    lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return lists.encode(value, list_format)
    return str(value)


def service_env(fleet: Fleet, host: HostSpec, app: App, svc: Service,
                secrets: SecretLookup) -> dict[str, str]:
    """Plain settings first, then secrets; sorted so the file is stable."""
    # The model's own names (generated_env.py) are never the data's: the fleet refuses that.
    values: dict[str, EnvValue] = {**app.env, **svc.env, **generated_env(
        Given(host, app, svc, peer_url=lambda peer: fleet.peer_url(host, peer)))}

    def password(name: str) -> tuple[str, bool]:
        value = secrets(host.node, name)
        return value, value != redacted(host.node, name)

    # The host's own services from Debian packages, as URLs (databases.py): a database's
    # carries its owner's password, which is why only an env file may hold one.
    named = {"postgresql": lambda argument: postgresql_url(host, argument, password),
             "redis": lambda argument: redis_url(host, argument)}

    def filled(text: str) -> str:
        return fill(text, {"root": app.root},
                    url=lambda unit: fleet.endpoint(host.node, host.node, unit).url, named=named)

    # Placeholders are filled in each string and each list item on its own, before a list is
    # encoded: two items never join into one placeholder.
    plain = {}
    for key in sorted(values):
        value = values[key]
        value = [filled(item) for item in value] if isinstance(value, list) else (
            filled(value) if isinstance(value, str) else value)
        try:
            plain[key] = _quote_env(encode_env(value, app.list_format))
        except lists.ListValueError as exc:  # the model refuses such items: not reached
            raise ModelError([Problem(f"host {host.node}", f"app {app.name}, env {key}",
                                      str(exc))]) from None
    hidden = {name: _quote_env(secrets(host.node, name)) for name in sorted(app.secrets)}
    for name in sorted(app.secret_lists):
        raw = secrets(host.node, name)
        if raw == redacted(host.node, name):  # an offline render: shown as it is
            hidden[name] = _quote_env(raw)
            continue
        try:
            hidden[name] = _quote_env(lists.encode(lists.parse_secret(raw), app.list_format))
        except lists.ListValueError as exc:  # the secrets check refuses it first: not reached
            raise RefusedSecretValues(f"host {host.node}, app {app.name}: list secret {name}: "
                                      f"{exc}") from None
    return {**plain, **dict(sorted(hidden.items()))}


INHERIT_SOCKET_SOURCE = Path(__file__).parent / "inherit_socket.py"


def service_argv(fleet: Fleet, host: HostSpec, app: App, svc: Service) -> str:
    """The python arguments: a listening service takes its socket from systemd (fd 3)."""
    own = {"host": listen(host, svc).address, "port": str(svc.port)} if svc.port else {}
    argv = fill(svc.argv, {**own, "root": app.root, "static": app.static_dir},
                url=lambda unit: fleet.endpoint(host.node, host.node, unit).url)
    if svc.port is None or svc.asgi:
        return argv
    return f"{INHERIT_SOCKET} {argv}"  # a stdlib server: see inherit_socket.py


def _listen(host: HostSpec, svc: Service) -> str:
    return listen(host, svc).authority


def _unit_files(fleet: Fleet, host: HostSpec, secrets: SecretLookup) -> list[RenderedFile]:
    files = []
    steps = {svc.unit for _, svc in host.services if svc.oneshot}
    for app, svc in host.services:
        env_file = env_file_path(host, svc)
        shared = access(host, app)
        unit = functools.partial(
            render_template, "systemd/service.j2", app=app, svc=svc,
            argv=service_argv(fleet, host, app, svc), workdir=app.workdir(svc), env_file=env_file,
            read_write_paths=read_write_paths(host, app), shared_writes=shared.writes,
            supplementary_groups=shared.groups, umask=shared.umask, devices=svc.devices,
            steps=[f"{dep}.service" for dep in svc.after if dep in steps],
            packaged=reads(app, svc).units)
        socket = functools.partial(render_template, "systemd/socket.j2", svc=svc)
        listens = svc.port is not None
        restart, load = Restart(svc.started_unit, app.name), Load(app.name)
        # A scheduled job's own files are loaded, restarting nothing: its timer starts it, with
        # them, at its next run. A change to the timer restarts the timer.
        own = load if svc.schedule else restart
        files.append(RenderedFile(
            path=f"{SYSTEMD_DIR}/{svc.unit}.service", kind="unit", activation=own,
            unit=svc.unit,
            content=unit(candidate=False, socket=f"{svc.unit}.socket" if listens else None)))
        if svc.schedule:
            files.append(RenderedFile(
                path=f"{SYSTEMD_DIR}/{svc.started_unit}", kind="timer", activation=restart,
                unit=svc.unit, content=render_template("systemd/timer.j2", svc=svc,
                                                       schedule=svc.schedule)))
        if listens:
            files.append(RenderedFile(path=f"{SYSTEMD_DIR}/{svc.unit}.socket", kind="socket",
                                      activation=restart, unit=svc.unit,
                                      content=socket(candidate=False, listen=_listen(host, svc))))
        if app.candidate(svc):
            files += [
                RenderedFile(path=f"{SYSTEMD_DIR}/{candidate_unit(svc.unit)}", kind="candidate",
                             activation=load, unit=svc.unit, content=unit(
                                 candidate=True, socket=candidate_unit(svc.unit, "%i", "socket"))),
                RenderedFile(path=f"{SYSTEMD_DIR}/{candidate_unit(svc.unit, suffix='socket')}",
                             kind="candidate", activation=load, unit=svc.unit,
                             content=socket(candidate=True,
                                            listen=candidate(host, svc).authority)),
            ]
        env = service_env(fleet, host, app, svc, secrets)
        files.append(RenderedFile(
            path=env_file, kind="env", activation=own, unit=svc.unit, mode="0600",
            # A database URL holds its owner's password.
            secret=bool(app.all_secrets or reads(app, svc).databases),
            content=render_template("env/service.env.j2", unit=svc.unit, env=env),
        ))
    if any(svc.port is not None and not svc.asgi for _, svc in host.services):
        # Read by a process at its start only: a change reaches each at its next restart.
        files.append(RenderedFile(path=INHERIT_SOCKET, kind="program", activation=None,
                                  content=INHERIT_SOCKET_SOURCE.read_text()))
    return files


def _packaged_services(host: HostSpec) -> list[RenderedFile]:
    """The configuration of the host's PostgreSQL and Redis (databases.py): each file journaled
    with its service's check and reload or restart. The roles and databases are not files:
    deploys/packaged.py makes them, as the decision owes them."""
    files = []
    c = cluster(host)
    if c is not None and host.postgresql is not None:
        journal = postgresql_journal(c)
        config = c.paths["config"]
        files += [
            RenderedFile(path=f"{config}/{POSTGRESQL_DROP_IN}", kind="postgresql",
                         activation=journal, owner=POSTGRES_USER, group=POSTGRES_USER,
                         unit=c.unit, content=render_template(
                             "postgresql/aitbc.conf.j2", address=LOOPBACK, port=c.port)),
            # Debian's own is postgres:postgres 0640: it names who may log in from where.
            RenderedFile(path=f"{config}/{POSTGRESQL_HBA}", kind="pg_hba", activation=journal,
                         mode="0640", owner=POSTGRES_USER, group=POSTGRES_USER, unit=c.unit,
                         content=render_template("postgresql/pg_hba.conf.j2", address=LOOPBACK,
                                                 databases=host.postgresql.databases)),
        ]
    if host.redis is not None:
        # Redis's own and 0640, as the package's statoverride sets it at every upgrade (a
        # CONFIG REWRITE by a client is drift the next run puts back).
        files.append(RenderedFile(
            path=REDIS_CONF, kind="redis", activation=REDIS, mode="0640", owner=REDIS_USER,
            group=REDIS_USER,
            unit=REDIS.service, content=render_template(
                "redis/redis.conf.j2", address=LOOPBACK, port=host.redis.port,
                databases=REDIS_DATABASES, maxmemory_mb=host.redis.maxmemory_mb,
                maxmemory_policy=host.redis.maxmemory_policy or "noeviction")))
    return files


def systemd_word(value: str) -> str:
    """One argument of ExecStart=, in double quotes: its blanks, ';' and single quotes are its
    own (the model refuses '"', '\\', '$' and '%' in it)."""
    return f'"{value}"'


def step_argv(fleet: Fleet, host: HostSpec, app: App, step: Step) -> str:
    """A release step's python arguments, each one word, placeholders filled in."""
    return " ".join(systemd_word(fill(argument, {"root": app.root},
                                      url=lambda unit: fleet.endpoint(host.node, host.node, unit).url))
                    for argument in step.command)


def _step_files(fleet: Fleet, host: HostSpec) -> list[RenderedFile]:
    """Each release step's template unit (UNIT-step-NAME@.service, run as @RELEASE): loaded
    with its app's units, run by the app's activation when a release or what it reads changes
    (aitbc_infra/decision.py), restarting nothing itself. It belongs to the service whose env
    file it reads: checked with that service's files."""
    files = []
    for app in host.apps:
        shared = access(host, app)
        for step in app.steps:
            svc = app.step_service(step)
            files.append(RenderedFile(
                path=f"{SYSTEMD_DIR}/{step_unit(svc.unit, step.name)}", kind="step",
                activation=Load(app.name), unit=svc.unit,
                content=render_template(
                    "systemd/step.j2", app=app, step=step, service=svc.unit,
                    description=svc.description or svc.unit, argv=step_argv(fleet, host, app, step),
                    workdir=app.step_workdir(step), env_file=env_file_path(host, svc),
                    read_write_paths=read_write_paths(host, app), shared_writes=shared.writes,
                    supplementary_groups=shared.groups, umask=shared.umask, devices=[],
                    packaged=reads(app, svc).units)))
    return files


def read_write_paths(host: HostSpec, app: App) -> list[str]:
    """Where an app's units may write under ProtectSystem=strict (ReadWritePaths=): its data
    directories, then the shared directories it writes."""
    return [*(f"{app.root}/{d}" for d in app.data_dirs), *access(host, app).writes]


def file_readers(host: HostSpec, entry: GeneratedFile) -> ReadBy | None:
    """What a change of a generated file sets off: a restart of every unit of its `used_by`
    apps but their scheduled jobs (a job reads it afresh at its next run); None if no unit."""
    units = tuple(Restart(svc.unit, app.name) for app in host.apps if app.name in entry.used_by
                  for svc in app.services if not svc.schedule)
    return ReadBy(units) if units else None


def _generated_files(host: HostSpec, secrets: SecretLookup) -> list[RenderedFile]:
    files = []
    for i, entry in enumerate(host.generated_files):
        try:
            text = generated_content(host, entry, lambda name: secrets(host.node, name))
        except GeneratedFileError as exc:
            raise ModelError([Problem(f"host {host.node}", f"generated_files[{i}].template",
                                      f"{entry.path}: {exc}")]) from None
        files.append(RenderedFile(path=entry.path, content=text, kind=entry.format,
                                  activation=file_readers(host, entry), mode=entry.mode,
                                  owner=entry.owner, group=entry.group,
                                  secret=entry.holds_secrets))
    return files


def trusted_proxies(fleet: Fleet, host: HostSpec) -> dict[str, str]:
    """The proxies in front of this host's nginx, address -> the scheme their clients use:
    the only peers whose X-Forwarded-For it believes, and whose scheme it passes on."""
    found: dict[str, str] = {}
    for other, site, _ in fleet.proxied_by(host.node):
        if other.bridge_address is not None:
            address = str(other.bridge_address)
            found[address] = "https" if site.tls or found.get(address) == "https" else "http"
    return dict(sorted(found.items()))


def site_headers(host: HostSpec, site: Site) -> dict[str, str]:
    """A TLS site's response headers: its own list, else the host's."""
    return host.security_headers if site.headers is None else site.headers


def certificate_lineage(host: HostSpec, site: Site) -> str:
    return host.sites[site.server_name].certificate or site.server_name


def certificate_files(host: HostSpec, site: Site) -> tuple[str, str]:
    """Where a TLS site's certificate chain and its key live on its host."""
    base = PROVIDED_CERTS if host.sites[site.server_name].tls == "provided" else LETSENCRYPT_LIVE
    directory = f"{base}/{certificate_lineage(host, site)}"
    return f"{directory}/{CERTIFICATE_CHAIN}", f"{directory}/{CERTIFICATE_KEY}"


def acme_bootstrap_site(site: Site) -> str:
    """The site nginx serves alone while certbot answers the first HTTP-01 challenge."""
    return render_template("nginx/acme-bootstrap.conf.j2", server_name=site.server_name,
                           acme_webroot=ACME_WEBROOT)


def _site_file(fleet: Fleet, host: HostSpec, site: Site) -> RenderedFile:
    upstreams = {
        r.location: fleet.upstream(host, r).authority for r in site.routes if r.type == "proxy"
    }
    common = {"site": site, "upstreams": upstreams, "log_dir": NGINX_LOG_DIR,
              "rate_limits": host.rate_limits, "limit_zones": {
                  route.nginx_location: zone for route, zone in limit_zones(host, site)}}
    if site.tls:
        chain, key = certificate_files(host, site)
        content = render_template("nginx/tls-proxy.conf.j2", **common, acme_webroot=ACME_WEBROOT,
                                  certificate=chain, certificate_key=key,
                                  headers=site_headers(host, site))
    else:
        proxies = trusted_proxies(fleet, host)
        schemes = set(proxies.values())
        content = render_template("nginx/site.conf.j2", **common, trusted_proxies=list(proxies),
                                  forwarded_proto=schemes.pop() if len(schemes) == 1 else None)
    return RenderedFile(path=f"{NGINX_AVAILABLE}/{site.config_name}", kind="nginx",
                        activation=NGINX, unit=site.config_name, content=content)


def _catch_all(host: HostSpec) -> str:
    plain = sorted({80, *(s.listen for s in host.nginx_sites if not s.tls)})
    return render_template("nginx/catch-all.conf.j2", plain_ports=plain,
                           tls=any(s.tls for s in host.nginx_sites))


def limit_zones(host: HostSpec, site: Site) -> list[tuple[Route, str]]:
    """Each rate-limited route of the site and the name of its limit_req zone."""
    i = host.nginx_sites.index(site)
    return [(route, f"aitbc_s{i}_r{j}") for j, route in enumerate(site.routes) if route.rate_limit]


def _http_settings(host: HostSpec) -> str:
    zones = [(zone, host.rate_limits[route.rate_limit]) for site in host.nginx_sites
             for route, zone in limit_zones(host, site)]
    return render_template("nginx/http.conf.j2", zones=zones)


def _nginx_files(fleet: Fleet, host: HostSpec) -> list[RenderedFile]:
    if not host.nginx_sites:
        return []
    files = [_site_file(fleet, host, site) for site in host.nginx_sites]
    files += [
        RenderedFile(path=NGINX_CATCH_ALL, kind="nginx", activation=NGINX,
                     content=_catch_all(host)),
        RenderedFile(path=NGINX_HTTP_SETTINGS, kind="nginx", activation=NGINX,
                     content=_http_settings(host)),
        # Read by logrotate on its next run.
        RenderedFile(path=NGINX_LOGROTATE, kind="logrotate", activation=None,
                     content=render_template("nginx/logrotate.j2", log_dir=NGINX_LOG_DIR)),
    ]
    if any(r.websocket for s in host.nginx_sites for r in s.routes):
        files.append(RenderedFile(path=NGINX_UPGRADE_MAP, kind="nginx",
                                  activation=NGINX,
                                  content=render_template("nginx/upgrade-map.conf.j2")))
    return files


def _firehol_files(fleet: Fleet, host: HostSpec) -> list[RenderedFile]:
    if host.firewall is None:
        return []
    def src(allow: list[str]) -> str:
        """firehol's source parameter for a rule: nothing for any address."""
        sources = fleet.sources(allow)
        return "" if sources is None else f' src "{" ".join(sources)}"'

    forwards = [{"port": e.port, "address": e.address, "src": src(f.allow)}
                for f, e in ((f, fleet.forward(host, f)) for f in host.firewall.forwards)]
    openings = [{"port": o.port, "name": o.name, "src": src(o.allow)}
                for o in host.firewall.open]
    content = render_template("firehol/firehol.conf.j2", forwards=forwards, wan=host.wan_interface,
                              bridge=host.bridge_interface, openings=openings)
    journal = firehol_journal(host.firewall.confirm_seconds)
    return [
        RenderedFile(path=FIREHOL_CONF, kind="firehol", activation=journal, unit="firehol",
                     content=content),
        RenderedFile(path=FIREHOL_DEFAULTS, kind="firehol", activation=journal, unit="firehol",
                     content="# Managed by aitbc-infra\nSTART_FIREHOL=YES\n"),
        # Run by the timers firehol's activation arms: written before it.
        RenderedFile(path=FIREHOL_SWITCH, kind="program", activation=None,
                     content=program("firehol-switch")),
    ]


def _sshd_files(fleet: Fleet, host: HostSpec) -> list[RenderedFile]:
    """Every host: the deploy reaches each one over SSH (aitbc_infra/sshd.py)."""
    return [RenderedFile(path=SSHD_DROP_IN, kind="sshd", activation=SSHD, unit=UNIT,
                         content=render_template("ssh/sshd.conf.j2", node=host.node,
                                                 sections=sections(fleet, host)))]


def render_host(fleet: Fleet, host: HostSpec, secrets: SecretLookup = redacted) -> list[RenderedFile]:
    files = (_nginx_files(fleet, host) + _unit_files(fleet, host, secrets)
             + _step_files(fleet, host) + _generated_files(host, secrets)
             + _packaged_services(host) + _firehol_files(fleet, host)
             + _sshd_files(fleet, host))
    return sorted(files, key=lambda f: f.path)


def _path_problems(node: str, files: list[RenderedFile]) -> list[Problem]:
    """A rendered path that is also a directory of another (env_dir on a file, ...) cannot be
    written: refused before anything is."""
    paths = {f.path for f in files}
    return [Problem(f"host {node}", "rendered files", f"{parent} is a file and also the directory "
                    f"of {f.path}")
            for f in files for parent in map(str, PurePosixPath(f.path).parents) if parent in paths]


def render_fleet(fleet: Fleet, secrets: SecretLookup = redacted) -> dict[str, list[RenderedFile]]:
    rendered = {node: render_host(fleet, host, secrets) for node, host in sorted(fleet.hosts.items())}
    problems = [p for node, files in rendered.items() for p in _path_problems(node, files)]
    if problems:
        raise ModelError(problems)
    return rendered


def write_tree(rendered: dict[str, list[RenderedFile]], out: Path) -> list[tuple[str, int, int]]:
    """Write DIR/<node>/<absolute path>; returns (node, files, bytes) rows.

    Every target is checked to lie inside `out` before the first one is written.
    """
    base = out.resolve()
    targets = {}
    for node, files in rendered.items():
        for f in files:
            target = (base / node / f.path.lstrip("/")).resolve()
            if not target.is_relative_to(base / node) or node in ("", ".", ".."):
                raise ValueError(f"host {node}: {f.path} would be written outside {out}")
            targets[(node, f.path)] = target
    rows = []
    for node, files in rendered.items():
        size = 0
        for f in files:
            target = targets[(node, f.path)]
            target.parent.mkdir(parents=True, exist_ok=True)
            data = f.content.encode()
            target.write_bytes(data)
            size += len(data)
        rows.append((node, len(files), size))
    return rows

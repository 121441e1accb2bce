"""Secret values for a deploy: one set per site, from the environment or a secrets file.

A site is a wan-facing host and the containers behind it, named after that host
(`Fleet.site_of`): at1 (with aitbc) and ns3-root (with ns3-aitbc). Each site holds its own
values; two sites holding one value of a secret is refused unless `shared_secrets` names it.

The secrets file (its path is data: `secrets_file`, outside git) holds `NAME=VALUE` lines,
those under a `[SITE]` line for that site, those before any section for every site:

    [at1]
    JWT_SECRET=...
    [ns3-root]
    JWT_SECRET=...

The environment gives `NAME__SITE` (the site upper-case, `-` as `_`: `JWT_SECRET__NS3_ROOT`)
for one site, `NAME` for every site. A site's own value wins over one for every site, and at
either level the environment wins over the file.

Two secrets a host declares a key pair (`key_pairs`: a private key and the address it controls)
must match at each site holding both (key_pairs.py).

No value ever reaches a message: errors name the file and line, the site, host, app and
secret; values are compared by their digests.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aitbc_infra import key_pairs, lists
from aitbc_infra.fleet import Fleet

_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")  # as the model's env names
_SECTION = re.compile(r"\[([a-z0-9][a-z0-9-]{0,62})\]")  # a site: a node name


class SecretsError(Exception):
    """The secrets cannot be used for a deploy; the message names where, never a value."""


class SecretsFileError(SecretsError):
    pass


class MissingSecrets(SecretsError):
    pass


class RefusedSecretValues(SecretsError):
    """Values two sites share by accident, or a list secret that is no list."""


@dataclass(frozen=True)
class Secret:
    """One value as given: for which site (None: every site) and where it was written."""

    name: str
    site: str | None
    where: str  # "FILE:LINE" or "environment NAME": never the value
    value: str = field(repr=False)


def env_name(name: str, site: str) -> str:
    """The environment variable giving `name` for `site` alone (node names have no `_`, so
    no two sites share one)."""
    return f"{name}__{site.upper().replace('-', '_')}"


def _unquoted(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def read_secrets_file(path: Path) -> list[Secret]:
    """Every value of the file; SecretsFileError names the file and line of a malformed one."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SecretsFileError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise SecretsFileError(f"{path}: cannot be read: {exc.strerror}") from None
    site: str | None = None
    first_line: dict[tuple[str | None, str], int] = {}
    found = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        # The line itself is never quoted back: a mistyped one may hold a value.
        if line.startswith("["):
            section = _SECTION.fullmatch(line)
            if section is None:
                raise SecretsFileError(f"{where}: expected [SITE], a site named after its host "
                                       "(a-z, 0-9, '-')")
            site = section[1]
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not _NAME.fullmatch(name):
            raise SecretsFileError(f"{where}: expected NAME=VALUE, NAME in A-Z, 0-9 and _")
        scope = f"[{site}]" if site else "for every site"
        if (site, name) in first_line:
            raise SecretsFileError(f"{where}: {name} {scope} given again (first on line "
                                   f"{first_line[site, name]})")
        if not _unquoted(value):
            raise SecretsFileError(f"{where}: {name} {scope} has an empty value")
        first_line[site, name] = number
        found.append(Secret(name, site, where, _unquoted(value)))
    return found


def needed(fleet: Fleet) -> dict[tuple[str, str], list[str]]:
    """(site, secret) -> the hosts and apps that need it ("host aitbc, app coordinator-api"),
    the generated files holding it ("host aitbc, file /var/lib/x/key") and the PostgreSQL
    roles logging in with it ("host db, postgresql role pool (database pool)")."""
    out: dict[tuple[str, str], list[str]] = {}
    for host in fleet.hosts.values():
        site = fleet.site_of(host.node)
        for app in host.apps:
            for name in app.all_secrets:
                out.setdefault((site, name), []).append(f"host {host.node}, app {app.name}")
        for entry in host.generated_files:
            for name in entry.secret_names:
                out.setdefault((site, name), []).append(f"host {host.node}, file {entry.path}")
        for db in host.postgresql.databases if host.postgresql else ():
            out.setdefault((site, db.password_secret), []).append(
                f"host {host.node}, postgresql role {db.owner} (database {db.name})")
    return dict(sorted(out.items()))


@dataclass
class Gathered:
    """What the environment and the secrets files give for every (site, secret) needed."""

    values: dict[tuple[str, str], Secret]
    missing: dict[tuple[str, str], list[str]]
    files: list[str]  # the secrets files the data names
    unread: list[str]  # ... of which these do not exist
    other_sites: list[str]  # sections of the files for no site of this inventory


def gather(fleet: Fleet, environ: Mapping[str, str] | None = None) -> Gathered:
    """The value chosen for each (site, secret) and what is missing; SecretsFileError for a
    malformed file, or one value given twice."""
    environ = os.environ if environ is None else environ
    files = sorted({h.secrets_file for h in fleet.hosts.values() if h.secrets_file})
    in_files: dict[tuple[str | None, str], Secret] = {}
    unread = []
    for name in files:
        if not Path(name).exists():
            unread.append(name)
            continue
        for secret in read_secrets_file(Path(name)):
            earlier = in_files.setdefault((secret.site, secret.name), secret)
            if earlier is not secret:
                raise SecretsFileError(f"{secret.where}: {secret.name} also given in "
                                       f"{earlier.where}")
    sites = fleet.sites()
    values, missing = {}, {}
    for (site, name), users in needed(fleet).items():
        candidates = [_from_env(environ, env_name(name, site), site, name),
                      in_files.get((site, name)),
                      _from_env(environ, name, None, name), in_files.get((None, name))]
        chosen = next((c for c in candidates if c is not None), None)
        if chosen is None:
            missing[site, name] = users
        else:
            values[site, name] = chosen
    other = sorted({s.site for s in in_files.values() if s.site and s.site not in sites})
    return Gathered(values, missing, files, unread, other)


def _from_env(environ: Mapping[str, str], variable: str, site: str | None,
              name: str) -> Secret | None:
    value = environ.get(variable)
    return Secret(name, site, f"environment {variable}", value) if value else None


def _digests(items: list[str]) -> set[str]:
    """What is compared between sites: the value, or each item of a list secret (one admin
    key valid at two sites is a shared key, whatever else the lists hold). Digests, so that
    what the comparison keeps and groups could be shown without showing a value."""
    return {hashlib.sha256(item.encode(errors="surrogatepass")).hexdigest() for item in items}


def _list_readers(fleet: Fleet) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    """(site, list secret) -> (host, app, list format) of every app reading it."""
    out: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for host in fleet.hosts.values():
        for app in host.apps:
            for name in app.secret_lists:
                out.setdefault((fleet.site_of(host.node), name), []).append(
                    (host.node, app.name, app.list_format))
    return out


def _list_problems(name: str, site: str, secret: Secret,
                   readers: list[tuple[str, str, str]]) -> tuple[list[str], list[str]]:
    """(items, problems) of a list secret: read as `lists.parse_secret` reads it (for the
    render too), each item written in the list format of every app reading it."""
    where = f"{name} for site {site} ({secret.where})"
    try:
        items = lists.parse_secret(secret.value)
    except lists.ListValueError as exc:
        users = "; ".join(f"host {node}, app {app}" for node, app, _ in readers)
        return [], [f"{where}, read by {users}: not a list secret: {exc}"]
    problems = []
    for node, app, list_format in readers:
        for k, item in enumerate(items):
            why = lists.item_problem(item, list_format)
            if why:
                problems.append(f"{where}: item {k} {why}; host {node}, app {app} reads it as "
                                f"a {list_format} list")
    return items, problems


# What ends a line of an env file for systemd: a value holding one would end its line there.
LINE_BREAKS = {"\n": "a newline", "\r": "a carriage return", "\0": "a NUL"}


def line_problems(fleet: Fleet, values: dict[tuple[str, str], Secret]) -> list[str]:
    """A message for each value that cannot be one line of an env file, naming the secret, the
    site, where it was given and the hosts and apps that need it (never the value)."""
    users = needed(fleet)
    problems = []
    for (site, name), secret in values.items():
        found = [what for char, what in LINE_BREAKS.items() if char in secret.value]
        if found:
            problems.append(f"{name} for site {site} ({secret.where}): holds {' and '.join(found)}, "
                            f"which an env file line cannot carry ({'; '.join(users[site, name])})")
    return problems


def value_problems(fleet: Fleet, values: dict[tuple[str, str], Secret]) -> list[str]:
    """A message for each secret two or more sites hold one value of, unless it is declared
    shared (naming the secret, the sites and where their values were given), and for each
    list secret that does not read as a list, or holds an item an app's list format cannot
    carry."""
    readers = _list_readers(fleet)
    list_names = {name for _, name in readers}
    sites_by_digest: dict[tuple[str, str], set[str]] = {}
    problems = []
    for (site, name), secret in values.items():
        items = [secret.value]
        if name in list_names:
            items, found = _list_problems(name, site, secret, readers.get((site, name), []))
            problems += found
            if found:
                continue
        if name in fleet.shared_secrets:
            continue
        for digest in _digests(items):
            sites_by_digest.setdefault((name, digest), set()).add(site)
    shared = dict.fromkeys((name, tuple(sorted(sites)))
                           for (name, _), sites in sites_by_digest.items() if len(sites) > 1)
    for name, sites in shared:
        what = "the same list item" if name in list_names else "the same value"
        where = "; ".join(f"{site}: {values[site, name].where}" for site in sites)
        problems.append(f"{name}: sites {', '.join(sites)} hold {what} ({where}); give each "
                        "site its own, or name it in shared_secrets (group_data/all.py)")
    return problems


def pair_problems(fleet: Fleet, values: dict[tuple[str, str], Secret]) -> list[str]:
    """A message for each key pair (`key_pairs`) a site holds both values of whose key is no
    key, whose address is no address, or whose key does not derive to its address: naming the
    two secrets, the site, where each was given and what is wrong, never a value. A pair with
    a value missing is left to the report of missing values."""
    problems = []
    for site, pair in fleet.key_pairs():
        key, address = values.get((site, pair.key)), values.get((site, pair.address))
        if key is None or address is None:
            continue
        why = key_pairs.KINDS[pair.kind].problem(key.value, address.value)
        if why:
            problems.append(f"{pair.key} and {pair.address} for site {site} ({key.where}; "
                            f"{address.where}): not a {pair.kind} key pair: {why}")
    return problems


def refusals(fleet: Fleet, values: dict[tuple[str, str], Secret]) -> list[str]:
    """Every reason to refuse the values given, before any connection."""
    return (line_problems(fleet, values) + value_problems(fleet, values)
            + pair_problems(fleet, values))


def _missing_message(gathered: Gathered) -> str:
    files = ", ".join(f"{f} (absent)" if f in gathered.unread else f for f in gathered.files)
    lines = [f"  - {name} for site {site} ({'; '.join(users)}): under [{site}] in the secrets "
             f"file, or {env_name(name, site)} in the environment"
             for (site, name), users in gathered.missing.items()]
    note = (f"\nthe secrets file has sections for no site of this inventory: "
            f"{', '.join(gathered.other_sites)}" if gathered.other_sites else "")
    return ("missing secrets, give each for its site in the secrets file "
            f"({files or 'no secrets_file set'}) or the environment:\n" + "\n".join(lines) + note)


class SecretStore:
    """Every secret of every site, checked: none missing, none shared by accident."""

    def __init__(self, fleet: Fleet, values: dict[tuple[str, str], str]):
        self._site = {node: fleet.site_of(node) for node in fleet.hosts}
        self._values = values

    @classmethod
    def for_fleet(cls, fleet: Fleet, environ: Mapping[str, str] | None = None) -> SecretStore:
        gathered = gather(fleet, environ)
        if gathered.missing:
            raise MissingSecrets(_missing_message(gathered))
        problems = refusals(fleet, gathered.values)
        if problems:
            raise RefusedSecretValues("secret values refused:\n"
                                      + "\n".join(f"  - {p}" for p in problems))
        return cls(fleet, {key: s.value for key, s in gathered.values.items()})

    def lookup(self, node: str, name: str) -> str:
        return self._values[self._site[node], name]

    def __repr__(self) -> str:  # never print values, even by accident
        return f"SecretStore({len(self._values)} values)"


@dataclass(frozen=True)
class SecretsCheck:
    ok: bool
    detail: str


def check_secrets(fleet: Fleet, environ: Mapping[str, str] | None = None) -> SecretsCheck:
    """`check`'s view, offline and without every value: the values given here are well formed,
    no two sites share one and each key pair given matches; missing ones are a deploy's
    failure, not this check's."""
    try:
        gathered = gather(fleet, environ)
    except SecretsFileError as exc:
        return SecretsCheck(False, str(exc))
    problems = refusals(fleet, gathered.values)
    if problems:
        return SecretsCheck(False, "\n".join(problems))
    total = len(gathered.values) + len(gathered.missing)
    every_pair = fleet.key_pairs()
    given = [(site, pair) for site, pair in every_pair
             if {(site, pair.key), (site, pair.address)} <= gathered.values.keys()]
    matching = (f"; key pairs: {len(given)} of {len(every_pair)} given here, each matching"
                if every_pair else "")
    return SecretsCheck(True, f"{len(fleet.sites())} sites; {len(gathered.values)} of {total} "
                        f"values given here, none shared between sites{matching}")

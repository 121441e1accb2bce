"""Every name and path the deploy shares with its hosts, written once: here.

The files and directories the deploy writes, reads or keeps on a host, those of the programs it
configures (nginx, certbot, sshd, firehol, systemd), and the names under them that its parts
must agree on. Not the programs themselves (/bin/bash, /usr/bin/python3) nor the system's own
interfaces (/dev/null, /proc).

The Python code reads them from this module. The host scripts (deploys/scripts/) never spell
them: the names every script may use arrive as its first arguments, in the order of
SCRIPT_ARGUMENTS (deploys/scripts/lib.sh takes them), and a path only one script needs comes
among that script's own arguments. tests/unit/test_host_names.py finds each value of this
module in no other code file.
"""

from __future__ import annotations

# The deploy's own state on a host ------------------------------------------------------------
STATE_DIR = "/var/lib/aitbc"
PENDING_DIR = f"{STATE_DIR}/pending"  # journals and restart marks that outlive a killed run
FIREHOL_APPLIED_DIGEST = f"{STATE_DIR}/firehol-applied.sha256"  # the live rules last applied
# The firewall's switch to new rules, confirmed or put back (deploys/scripts/lib.sh says its
# layout: a lock, the rules and files of before while a revert is armed, the last revert).
FIREHOL_SWITCH_DIR = f"{STATE_DIR}/firehol-switch"
# Digests of the managed files, by identity: a no-op deploy reads only what changed
# (deploys/scripts/path-states.sh).
PATH_HASHES = "/var/cache/aitbc-infra/path-hashes"
DEPLOY_LOCK = "/run/lock/aitbc-deploy.lock"  # one deploy at a time (deploys/lock.py)
DEPLOY_LOCK_HOLDER = "/run/lock/aitbc-deploy.holder"  # who holds it, for the one refused
# One JSON line per deploy run that held the lock (aitbc_infra/history.py), the last
# `rollout.history_lines` kept; appended as the lock is released (deploys/history.py).
DEPLOY_HISTORY = f"{STATE_DIR}/deploy-history.jsonl"
PROVISION_STAGE = "/run/aitbc-provision"  # files on their way into a container, root only

# Journals (deploys/journal.py) and the marks of what is owed --------------------------------
PREVIOUS_SUFFIX = ".aitbc-prev"  # JOURNAL.aitbc-prev/PATH: what a journaled write replaced
TEMP_SUFFIX = ".aitbc-new"  # a file or link being written, renamed over its path once whole
RESTART_MARK = "restart-"  # PENDING_DIR/restart-UNIT: a restart UNIT is owed
# PENDING_DIR/NAME, each for the configuration it covers (the program's own name).
NGINX_JOURNAL = "nginx"
FIREHOL_JOURNAL = "firehol"
SSHD_JOURNAL = "sshd"
TRUSTED_CAS_JOURNAL = "ca-certificates"
POSTGRESQL_JOURNAL = "postgresql"
REDIS_JOURNAL = "redis"
APP_JOURNAL_PREFIX = "app-"  # app-APP: an app's unit, socket and env files

# Apps: APP_ROOT/.venv -> releases/RELEASE, the release the units run -----------------------
RELEASES_DIR = "releases"  # APP_ROOT/releases/RELEASE: one venv per release
VENV_LINK = ".venv"
RELEASE_MARKER = ".aitbc-release"  # written last into a release: the release is whole
# APP_ROOT/.aitbc-rollback: the app runs a release `aitbc-infra rollback` put back (to what, by
# whom, when, the data's release), one JSON line; the deploy that puts the data's release back
# removes it (aitbc_infra/rollback.py).
ROLLBACK_RECORD = ".aitbc-rollback"
RELEASE_SOURCES = "src"  # RELEASE/src: the app's source trees, unpacked
STATIC_DIR = "static"  # RELEASE/src/static: the app's `static_files`, beside its trees
CANDIDATE_INFIX = "-candidate@"  # UNIT-candidate@RELEASE: a release on trial beside UNIT
# UNIT-step-NAME@RELEASE: the app's release step NAME, run with UNIT's env file in RELEASE before
# it goes live (deploys/scripts/activate-release.sh is handed each one's name).
STEP_INFIX = "-step-"
# RELEASE/.data/: the app's data as it was when RELEASE stopped being live (a snapshot taken
# just before the next release's cutover, with its manifest), root's alone, pruned with RELEASE
# (deploys/scripts/activate-release.sh takes it, restore-data.sh puts it back).
DATA_SNAPSHOT_DIR = ".data"
ENV_DIR = "/etc/aitbc"  # the env files (a host may name another directory)
SYSTEMD_DIR = "/etc/systemd/system"
WHEELHOUSE_REMOTE = "/var/cache/aitbc/wheelhouse"  # the releases' wheels and source tars
TOOLS_DIR = "/usr/local/lib/aitbc-infra"
# What builds the release venvs: uv's self-contained binary, uploaded as it is.
UV_REMOTE = f"{TOOLS_DIR}/uv"
# What the firewall's timers run (deploys/scripts/firehol-switch.sh with lib.sh): a file on the
# host, since they run without the deploy's session.
FIREHOL_SWITCH = f"{TOOLS_DIR}/firehol-switch"
INHERIT_SOCKET = f"{TOOLS_DIR}/inherit_socket.py"  # a stdlib server's socket from systemd

# nginx ----------------------------------------------------------------------------------------
NGINX_CONFIG = "/etc/nginx"  # what nginx reads when it loads its configuration
NGINX_AVAILABLE = f"{NGINX_CONFIG}/sites-available"
NGINX_ENABLED = f"{NGINX_CONFIG}/sites-enabled"
NGINX_CONF_D = f"{NGINX_CONFIG}/conf.d"
NGINX_CATCH_ALL = f"{NGINX_CONF_D}/aitbc-catch-all.conf"
NGINX_HTTP_SETTINGS = f"{NGINX_CONF_D}/aitbc-http.conf"
NGINX_UPGRADE_MAP = f"{NGINX_CONF_D}/aitbc-upgrade-map.conf"
ACME_BOOTSTRAP_SITE = f"{NGINX_ENABLED}/aitbc-acme-bootstrap"
# The sites' logs: a directory only www-data (nginx's workers reopen the logs) and adm may
# enter, since nginx creates its log files 0644.
NGINX_LOG_DIR = "/var/log/nginx/aitbc"
NGINX_LOGROTATE = "/etc/logrotate.d/aitbc-nginx"

# TLS ------------------------------------------------------------------------------------------
ACME_WEBROOT = "/var/www/letsencrypt"
LETSENCRYPT_LIVE = "/etc/letsencrypt/live"  # certbot's lineages: LETSENCRYPT_LIVE/LINEAGE
PROVIDED_CERTS = "/etc/ssl/aitbc"  # the provided certificates: PROVIDED_CERTS/LINEAGE
CERTIFICATE_CHAIN = "fullchain.pem"  # in a lineage's directory, as certbot names them
CERTIFICATE_KEY = "privkey.pem"
CA_DIR = "/usr/local/share/ca-certificates"  # CAs update-ca-certificates adds to the store
SANDBOX_ACME_ROOT_CA = "aitbc-sandbox-acme-root.crt"  # in CA_DIR: the sandbox's ACME root
SANDBOX_ACME_SERVER_CA = "aitbc-sandbox-acme-server.crt"  # and its ACME server's CA

# firehol --------------------------------------------------------------------------------------
FIREHOL_CONF = "/etc/firehol/firehol.conf"
FIREHOL_DEFAULTS = "/etc/default/firehol"
# Transient timers (each with its service): one applies new rules a second after the deploy's
# command returned, the other puts the previous ones back unless a deploy confirms the new ones
# over a new SSH connection in time.
FIREHOL_APPLY_UNIT = "aitbc-firehol-apply"
FIREHOL_REVERT_UNIT = "aitbc-firehol-revert"

# PostgreSQL and Redis, as Debian packages them ------------------------------------------------
# A cluster VERSION/main: its configuration in POSTGRESQL_CONFIG/VERSION/main, its data in
# POSTGRESQL_DATA/VERSION/main, its programs in POSTGRESQL_PROGRAMS/VERSION/bin, its socket in
# POSTGRESQL_SOCKETS; the unit postgresql@VERSION-main runs it, postgresql.service all clusters.
POSTGRESQL_CONFIG = "/etc/postgresql"
POSTGRESQL_DATA = "/var/lib/postgresql"
POSTGRESQL_PROGRAMS = "/usr/lib/postgresql"
POSTGRESQL_SOCKETS = "/var/run/postgresql"
POSTGRESQL_CLUSTER = "main"
POSTGRESQL_DROP_IN = "conf.d/aitbc.conf"  # under the cluster's configuration directory
POSTGRESQL_HBA = "pg_hba.conf"
# The roles' password verifiers on their way into PostgreSQL: written root-only, read and
# removed by deploys/scripts/postgresql.sh, `roles` (never a command line); under /run, so a run
# killed in between leaves nothing past a reboot and nothing in the state the deploy reads.
POSTGRESQL_VERIFIERS = "/run/aitbc-postgresql-verifiers"
REDIS_CONF = "/etc/redis/redis.conf"

# sshd and the containers provision makes ------------------------------------------------------
SSH_CONFIG_DIR = "/etc/ssh"
# "00-": before every other drop-in, so its values are the ones sshd keeps (aitbc_infra/sshd.py).
SSHD_DROP_IN = f"{SSH_CONFIG_DIR}/sshd_config.d/00-aitbc.conf"
SSH_HOST_KEY = f"{SSH_CONFIG_DIR}/ssh_host_ed25519_key"
ROOT_AUTHORIZED_KEYS = "/root/.ssh/authorized_keys"
CONTAINER_NETWORK = "/etc/systemd/network/10-aitbc.network"  # sorts before any image default
HOSTS_FILE = "/etc/hosts"  # a container's names (the sandbox's machines' too)

# What every host script receives first (deploys/scripts/lib.sh names them in this order).
SCRIPT_ARGUMENTS = (PREVIOUS_SUFFIX, TEMP_SUFFIX, RESTART_MARK, CANDIDATE_INFIX, RELEASES_DIR,
                    VENV_LINK, DATA_SNAPSHOT_DIR)


def postgresql_cluster(version: int) -> str:
    """The cluster's name as its unit and Debian's tools name it (VERSION-main)."""
    return f"{version}-{POSTGRESQL_CLUSTER}"


def postgresql_paths(version: int) -> dict[str, str]:
    """Where the cluster of a PostgreSQL major version lives, by what each path is."""
    return {"config": f"{POSTGRESQL_CONFIG}/{version}/{POSTGRESQL_CLUSTER}",
            "data": f"{POSTGRESQL_DATA}/{version}/{POSTGRESQL_CLUSTER}",
            "programs": f"{POSTGRESQL_PROGRAMS}/{version}/bin",
            "sockets": POSTGRESQL_SOCKETS}


def restart_mark(unit: str) -> str:
    return f"{RESTART_MARK}{unit}"


def candidate_unit(unit: str, instance: str = "", suffix: str = "service") -> str:
    """The template (or, given a release as instance, the unit) a candidate release runs as."""
    return f"{unit}{CANDIDATE_INFIX}{instance}.{suffix}"


def step_template(unit: str, step: str) -> str:
    """The name of the template a release step runs as, up to its '@': named after the service
    whose env file it reads."""
    return f"{unit}{STEP_INFIX}{step}"


def step_unit(unit: str, step: str, instance: str = "") -> str:
    """The template's file name (or, given a release as instance, the unit) of a release step."""
    return f"{step_template(unit, step)}@{instance}.service"


def release_link(release: str) -> str:
    """What APP_ROOT/.venv points at when RELEASE is active (relative: the root may move)."""
    return f"{RELEASES_DIR}/{release}"


def journal_copy(journal: str, path: str) -> str:
    """Where the journal JOURNAL keeps what a write to PATH replaced (lib.sh: journal_copy)."""
    return f"{PENDING_DIR}/{journal}{PREVIOUS_SUFFIX}{path}"

"""`aitbc-infra sandbox up | down | status | reboot HOST...|--all | ssh HOST [CMD...] | deploy`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from aitbc_infra.deploy import SITE, run_pyinfra
from aitbc_infra.errors import UserError
from aitbc_infra.health import health_table, print_table
from aitbc_infra.loader import load_fleet
from aitbc_infra.provision import provision
from aitbc_infra.sandbox.fleet import SandboxError, down, ensure_up, reboot, require_root, status
from aitbc_infra.sandbox.incus import IncusError
from aitbc_infra.sandbox.paths import paths
from aitbc_infra.sandbox.plan import MACHINE_NAMES, MACHINES
from aitbc_infra.sandbox.ssh import ssh_argv, wait_running

SANDBOX_URL = "https://aitbc.bubuit.net/"


def _bring_up(with_incus: bool) -> Path:
    """The fleet up; with incus, its containers provisioned (as `aitbc-infra provision` does in
    production) and booted."""
    try:
        inventory = ensure_up(with_incus=with_incus)
        if not with_incus:
            return inventory
        t0 = time.monotonic()
        if provision(inventory) != 0:
            raise SandboxError("provisioning the incus containers failed (see above)")
        containers = [m.name for m in MACHINES if m.proxy_jump]
        states = {name: wait_running(name) for name in containers}
        bad = {name: state for name, state in states.items() if state != "running"}
        if bad:
            raise SandboxError(f"incus containers not running: {bad}")
        print(f"[incus] {', '.join(containers)} provisioned and running in "
              f"{time.monotonic() - t0:.1f} s", flush=True)
        return inventory
    except (SandboxError, IncusError) as exc:
        raise UserError(str(exc)) from exc


def _up(args: argparse.Namespace) -> int:
    print(_bring_up(args.incus))
    return 0


def _down(args: argparse.Namespace) -> int:
    down()
    return 0


def _status(args: argparse.Namespace) -> int:
    rows = status()
    print(f"{'HOST':<10} {'ADDRESS':<15} {'SYSTEMD':<12} SSH")
    for r in rows:
        print(f"{r.host:<10} {r.address:<15} {r.state:<12} {'yes' if r.ssh else 'no'}")
    return 0 if all(r.state == "running" for r in rows) else 1


def _reboot(args: argparse.Namespace) -> int:
    if bool(args.hosts) == args.all:
        raise UserError("name the machines to reboot, or --all (not both)")
    unknown = [h for h in args.hosts if h not in MACHINE_NAMES]
    if unknown:
        raise UserError(f"unknown machine {', '.join(unknown)}; one of: {', '.join(MACHINE_NAMES)}")
    try:
        reboot(list(MACHINE_NAMES) if args.all else args.hosts)
    except SandboxError as exc:
        print(f"aitbc-infra sandbox reboot: {exc}", file=sys.stderr)
        return 1
    return 0


def _ssh(args: argparse.Namespace) -> int:
    require_root()  # the key and known_hosts are root's
    argv = ssh_argv(args.host, *args.cmd, batch=False)
    os.execvp(argv[0], argv)  # interactive: hand the terminal to ssh


def register(subparsers: argparse._SubParsersAction) -> None:
    sandbox = subparsers.add_parser(
        "sandbox",
        help="local test fleet: 4 systemd-nspawn machines mirroring production",
        description="Four Debian 12 systemd-nspawn machines (at1, aitbc, ns3-root, ns3-aitbc) on "
        "their own bridges (10.231.0.0/16), plus a pebble ACME server; state in .sandbox/. "
        "Needs root.",
    )
    sub = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="ACTION")

    p = sub.add_parser("up", help="build the image if needed, boot the fleet (no-op if running)",
                       description="Build/cache the image, create the bridges, start pebble, "
                       "boot the four machines and write .sandbox/inventory.py. Idempotent: on "
                       "a running sandbox it changes nothing. Prints the inventory path.")
    _incus_option(p)
    p.set_defaults(func=_up)

    p = sub.add_parser("down", help="stop the fleet; leaves no process, mount or link",
                       description="Stop the machines (orderly, then SIGKILL after 20 s), "
                       "discard their overlays, stop pebble and remove the bridges. The "
                       "cached image and the keys stay.")
    p.set_defaults(func=_down)

    p = sub.add_parser("status", help="per host: address, systemd state, ssh reachable",
                       description="Table of host, address, `systemctl is-system-running` and "
                       "whether ssh answers. Exit status 0 only if every host is running.")
    p.set_defaults(func=_status)

    p = sub.add_parser("reboot", help="power-cycle machines, disks kept; wait until running",
                       description="Orderly poweroff of each named machine (its own systemd "
                       "shuts down; SIGKILL after 20 s), then boot it again on the same overlay, "
                       "so everything deployed stays. Waits for the hosts, then the containers "
                       "(reached through their host), until `systemctl is-system-running` is "
                       "`running` and ssh answers. Nothing is deployed. Exit 1 when the sandbox "
                       "is not up, or naming each machine that is not running afterwards (with "
                       "its failed units); 2 for an unknown machine.")
    # No argparse `choices`: with nargs="*" it rejects the empty list that --all comes with.
    p.add_argument("hosts", nargs="*", metavar="HOST",
                   help="one or more of: " + ", ".join(MACHINE_NAMES))
    p.add_argument("--all", action="store_true", help="every machine")
    p.set_defaults(func=_reboot)

    p = sub.add_parser("ssh", help="ssh into a sandbox machine (ProxyJump for containers)",
                       description="Exec ssh -F .sandbox/ssh_config HOST [CMD...].")
    p.add_argument("host", choices=MACHINE_NAMES, metavar="HOST",
                   help="one of: " + ", ".join(MACHINE_NAMES))
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="command to run instead of a shell")
    p.set_defaults(func=_ssh)

    p = sub.add_parser("deploy", help="sandbox up, deploy the whole site, print health and URL",
                       description="Boot the sandbox if needed, generate its secrets, run "
                       "`pyinfra .sandbox/inventory.py deploys/site.py`, then print a health "
                       "table of every service and where to look.")
    _incus_option(p)
    p.set_defaults(func=_deploy)


def _incus_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--incus", action="store_true",
                        help="the containers as incus containers on this machine (incusd started "
                        "here, on the sandbox bridges), provisioned by `aitbc-infra provision`")


def _deploy(args: argparse.Namespace) -> int:
    inventory = _bring_up(args.incus)
    p = paths()
    print(f"[deploy] pyinfra {inventory} {SITE}", flush=True)
    code = run_pyinfra(inventory)
    if code != 0:
        print(f"[deploy] pyinfra failed (exit {code}): see the failing host and operation above",
              file=sys.stderr)
        return code
    rows = health_table(load_fleet(inventory))
    print_table(rows)
    print(f"\nOpen {SANDBOX_URL} (aitbc.bubuit.net resolves to 10.231.0.2 inside the sandbox):\n"
          f"  curl --cacert {p.pebble_root} --resolve aitbc.bubuit.net:443:10.231.0.2 "
          f"{SANDBOX_URL}health\n"
          f"  aitbc-infra sandbox ssh aitbc      # a shell in the container\n"
          f"  aitbc-infra sandbox status         # the fleet")
    return 0 if all(r.ok for r in rows) else 1

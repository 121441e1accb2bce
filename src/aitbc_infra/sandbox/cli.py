"""`aitbc-infra sandbox up | down | status | reboot HOST...|--all | ssh HOST [CMD...] | deploy |
from-host HOST [-- COMMAND...]`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from aitbc_infra import PROJECT_ROOT
from aitbc_infra.deploy import SITE, run_pyinfra
from aitbc_infra.errors import UserError
from aitbc_infra.health import health_table, print_table
from aitbc_infra.inventory_option import DEFAULT_INVENTORY, load_or_explain
from aitbc_infra.provision import provision
from aitbc_infra.sandbox import from_host, incus
from aitbc_infra.sandbox.fleet import (
    SandboxError,
    UnknownMachines,
    down,
    ensure_up,
    reboot,
    require_root,
    status,
)
from aitbc_infra.sandbox.paths import paths
from aitbc_infra.sandbox.ssh import current_plan, ssh_argv, ssh_run, wait_running


def _bring_up(args: argparse.Namespace) -> Path:
    """The fleet up; with --incus, its containers then provisioned as `aitbc-infra provision`
    does in production, and booted."""
    try:
        inventory = ensure_up(inventory=args.inventory, with_incus=args.incus)
        names = incus.containers(paths())
        if not names:
            return inventory
        t0 = time.monotonic()
        if provision(inventory) != 0:
            raise SandboxError("provisioning the incus containers failed (see above)")
        states = dict(zip(names, map(wait_running, names), strict=True))
        bad = {name: state for name, state in states.items() if state != "running"}
        if bad:
            raise SandboxError(f"incus containers not running: {bad}")
        print(f"[incus] {', '.join(names)} provisioned and running in "
              f"{time.monotonic() - t0:.1f} s", flush=True)
        return inventory
    except (SandboxError, incus.IncusError) as exc:
        raise UserError(str(exc)) from exc


def _up(args: argparse.Namespace) -> int:
    print(_bring_up(args))
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
    require_root()
    try:
        reboot(list(current_plan().names) if args.all else args.hosts)
    except UnknownMachines as exc:
        raise UserError(str(exc)) from None
    except SandboxError as exc:
        print(f"aitbc-infra sandbox reboot: {exc}", file=sys.stderr)
        return 1
    return 0


def _ssh(args: argparse.Namespace) -> int:
    require_root()  # the key and known_hosts are root's
    try:
        argv = ssh_argv(args.host, *args.cmd, batch=False)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    os.execvp(argv[0], argv)  # interactive: hand the terminal to ssh


def _from_host(args: argparse.Namespace) -> int:
    require_root()
    command = args.command_args[1:] if args.command_args[:1] == ["--"] else args.command_args
    from_host.lay_out(paths(), args.inventory.resolve(), args.host)
    if not command:
        print(f"The operator's checkout is ready on {args.host} at {PROJECT_ROOT}, with "
              f"{args.host} as @local in .sandbox/inventory.py. Run for example:\n"
              f"  aitbc-infra sandbox from-host {args.host} -- deploy --inventory "
              ".sandbox/inventory.py")
        return 0
    return from_host.run_there(args.host, command)


def register(subparsers: argparse._SubParsersAction) -> None:
    sandbox = subparsers.add_parser(
        "sandbox",
        help="local test fleet: systemd-nspawn machines mirroring an inventory",
        description="One Debian 12 systemd-nspawn machine per host and container of an "
        "inventory (default: the production inventory.py: at1, aitbc, ns3-root, ns3-aitbc) on "
        "their own bridges (10.231.0.0/16, laid out from the inventory's addresses), plus a "
        "pebble ACME server; state in .sandbox/. Needs root.",
    )
    sub = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="ACTION")

    p = sub.add_parser("up", help="build the image if needed, boot the fleet (no-op if running)",
                       description="Build/cache the image, create the bridges, start pebble, "
                       "boot one machine per host and container of the inventory and write "
                       ".sandbox/inventory.py. Idempotent: on a running sandbox of the same "
                       "inventory it changes nothing; one brought up for another inventory is "
                       "changed into this one (machines that differ stop, missing ones boot). "
                       "Prints the inventory path.")
    _add_source_inventory(p)
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
                   help="one or more machines of the running sandbox (see `sandbox status`)")
    p.add_argument("--all", action="store_true", help="every machine")
    p.set_defaults(func=_reboot)

    p = sub.add_parser("ssh", help="ssh into a sandbox machine (ProxyJump for containers)",
                       description="Exec ssh -F .sandbox/ssh_config HOST [CMD...].")
    p.add_argument("host", metavar="HOST",
                   help="a machine of the running sandbox (see `sandbox status`)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="command to run instead of a shell")
    p.set_defaults(func=_ssh)

    p = sub.add_parser("deploy", help="sandbox up, deploy the whole site, print health and URL",
                       description="Boot the sandbox for the inventory if needed, generate its "
                       "secrets (random values per site, a matching pair for each key pair), "
                       "run `pyinfra .sandbox/inventory.py deploys/site.py`, then print "
                       "a health table of every service and where to look.")
    _add_source_inventory(p)
    p.set_defaults(func=_deploy)

    p = sub.add_parser("from-host", help="run aitbc-infra on a sandbox host, that host @local",
                       description="Where the document's operator works: lay out this checkout "
                       "(with its build caches, the sandbox's keys and secrets, and a venv of "
                       "the machine's own python3 installed offline) on HOST at the same path, "
                       "with a sandbox inventory in which HOST is pyinfra's @local and every "
                       "other machine is reached over SSH from HOST; then run `aitbc-infra "
                       "COMMAND...` there, its output shown here, its exit status returned. "
                       "Each call lays out the checkout again (a few seconds; the venv is kept "
                       "while the requirements are unchanged). Needs a sandbox of nspawn "
                       "machines that is up.")
    p.add_argument("host", metavar="HOST", help="a host of the sandbox (not a container), "
                   "e.g. at1")
    p.add_argument("command_args", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                   help="an aitbc-infra command and its arguments, run on HOST (e.g. `-- "
                   "deploy --inventory .sandbox/inventory.py`); none: only lay out")
    p.add_argument("--inventory", "-i", type=Path, default=DEFAULT_INVENTORY,
                   help="the inventory the running sandbox stands in for (default: the "
                   "production inventory.py)")
    p.set_defaults(func=_from_host)


def _add_source_inventory(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inventory", "-i", type=Path, default=DEFAULT_INVENTORY,
                        help="the inventory the sandbox stands in for (default: the production "
                        "inventory.py); its hosts and containers become machines")
    parser.add_argument("--incus", action="store_true",
                        help="the containers as incus containers on this machine, on the "
                        "sandbox's bridges (incusd started here), created by `aitbc-infra "
                        "provision`; the hosts stay nspawn machines")


def _deploy(args: argparse.Namespace) -> int:
    inventory = _bring_up(args)
    p = paths()
    print(f"[deploy] pyinfra {inventory} {SITE}", flush=True)
    code = run_pyinfra(inventory)
    if code != 0:
        print(f"[deploy] pyinfra failed (exit {code}): see the failing host and operation above",
              file=sys.stderr)
        return code
    fleet = load_or_explain(inventory)
    rows = health_table(fleet, ssh_run)
    print_table(rows)
    print("\nWhere to look (the sites' names resolve inside the sandbox; from here, --resolve):")
    for address, name in current_plan(p).hosts_entries:
        scheme = next((spec.sites[name].scheme for spec in fleet.hosts.values()
                       if name in spec.sites), None)
        if scheme is None:
            continue  # the ACME server's own name
        port, trust = (443, f"--cacert {p.pebble_root} ") if scheme == "https" else (80, "")
        print(f"  curl {trust}--resolve {name}:{port}:{address} {scheme}://{name}/health")
    print("  aitbc-infra sandbox ssh HOST      # a shell on a machine (ProxyJump for containers)\n"
          "  aitbc-infra sandbox status        # the fleet")
    return 0 if all(r.ok for r in rows) else 1

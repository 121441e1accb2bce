"""The firewall's switch to new rules on a host, run for real without root: firehol-activate
(the deploy's activation), the program firehol-switch its timers run (apply, revert) and
firehol-confirm (the deploy, over a new SSH connection), as the host runs them: lib.sh first,
every value one argument. Only what needs root or a running systemd is a stub: iptables-save
and iptables-restore keep "the kernel's" rules in a file, systemd-run, systemctl and journalctl
record their arguments. The deploy's side (what it asks, what each answer means) is
tests/unit/test_firewall_confirm.py; the real thing, tests/sandbox/test_firewall_revert.py.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from aitbc_infra.host_names import SCRIPT_ARGUMENTS
from aitbc_infra.host_scripts import program
from aitbc_infra.render import firehol_journal
from deploys.journal import add_command
from deploys.shell import SCRIPTS, command, script

BEFORE = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
AFTER = "*filter\n:INPUT DROP [0:0]\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n"
WORDS = "FireHOL: ipset 'aitbc-admins' does not exist"

_LOG = """import json, os, sys
with open(os.environ["CALLS"], "a") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
"""
# Each stub: what it does besides recording its call. `firehol.service` loads AFTER (the new
# rules) unless FIREHOL_FAILS is set; the rules live are the file RULES.
STUBS = {
    "iptables-save": 'print(open(os.environ["RULES"]).read(), end="")',
    "iptables-restore": 'open(os.environ["RULES"], "w").write(sys.stdin.read())',
    # -C (is the rule there?) answers no: the activation's rule is added (lib.sh).
    "iptables": 'print("-P PREROUTING ACCEPT\\n-P POSTROUTING ACCEPT") if "-S" in sys.argv '
                'else sys.exit("-C" in sys.argv)',
    "ip6tables-save": "sys.exit(1)",  # a host without IPv6
    "systemd-run": 'sys.exit(f"--unit={os.environ.get(\'FAILING_UNIT\')}" in sys.argv)',
    "systemctl": """if sys.argv[1] == "reload-or-restart":
    if os.environ.get("FIREHOL_FAILS"):
        sys.exit(1)
    open(os.environ["RULES"], "w").write(os.environ["NEW_RULES"])""",
    "journalctl": f"print({WORDS!r})",
}


@dataclass
class Host:
    """A directory standing in for a host's file system, and the programs above."""

    root: Path

    def __post_init__(self):
        stubs = self.root / "stubs"
        stubs.mkdir(parents=True)
        for name, body in STUBS.items():
            (stubs / name).write_text(f"#!{sys.executable}\n{_LOG}{body}\n")
            (stubs / name).chmod(0o755)
        self.env = {"PATH": f"{stubs}:/usr/bin:/bin", "CALLS": str(self.root / "calls"),
                    "RULES": str(self.rules_file), "NEW_RULES": AFTER}
        self.rules_file.write_text(BEFORE)
        self.conf.parent.mkdir(parents=True)
        self.conf.write_text("version 6\n# before\n")
        self.applied.parent.mkdir(parents=True)
        self.applied.write_text("digest-before\n")
        self.program.write_text(program("firehol-switch"))

    rules_file = property(lambda self: self.root / "kernel-rules")
    conf = property(lambda self: self.root / "etc" / "firehol" / "firehol.conf")
    defaults = property(lambda self: self.root / "etc" / "default" / "firehol")
    applied = property(lambda self: self.root / "state" / "firehol-applied.sha256")
    switch = property(lambda self: self.root / "state" / "firehol-switch")
    journal = property(lambda self: self.root / "state" / "pending" / "firehol")
    program = property(lambda self: self.root / "firehol-switch")
    stash = property(lambda self: self.switch / "armed")

    def sh(self, line: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True,
                              cwd=self.root, env={**self.env, **env})

    def calls(self) -> list[list[str]]:
        log = self.root / "calls"
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        log.unlink(missing_ok=True)
        return calls

    def write(self, path: Path, text: str) -> None:
        """A deploy's journaled write of `path` (deploys/managed.py), its old content kept."""
        done = self.sh(add_command(self.journal.name, str(path), str(self.journal.parent)))
        assert done.returncode == 0, done.stderr
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def activate(self, seconds: str = "15", **env: str) -> subprocess.CompletedProcess:
        """As commit.sh runs the activation, then forgets the journal when it succeeded."""
        done = self.sh(script("firehol-activate", str(self.applied), str(self.journal),
                              str(self.switch), "aitbc-firehol-apply", "aitbc-firehol-revert",
                              seconds, str(self.program)), **env)
        if done.returncode == 0:
            self.sh(f"rm -rf {shlex.quote(str(self.journal))}.aitbc-prev "
                    f"{shlex.quote(str(self.journal))}")
        return done

    def run_timer(self, action: str, **env: str) -> subprocess.CompletedProcess:
        """What systemd runs when the timer of `action` fires: the program as a file."""
        return self.sh(f"sh {shlex.quote(str(self.program))} {action} "
                       f"{shlex.quote(str(self.switch))} {shlex.quote(str(self.applied))}", **env)

    def confirm(self, action: str) -> subprocess.CompletedProcess:
        return self.sh(script("firehol-confirm", action, str(self.switch), "aitbc-firehol-revert",
                              str(self.conf)))


@pytest.fixture
def host(tmp_path) -> Host:
    return Host(tmp_path / "a host; touch PWNED")


def _changed(host: Host) -> None:
    host.write(host.conf, "version 6\n# new rules\n")
    host.write(host.defaults, "START_FIREHOL=YES\n")  # did not exist before


def _timer(calls: list[list[str]], unit: str) -> list[str]:
    return next(c for c in calls if c[0] == "systemd-run" and f"--unit={unit}" in c)


def test_activation_keeps_what_the_rules_replace_and_arms_both_timers(host):
    _changed(host)
    done = host.activate()
    assert done.returncode == 0, done.stderr
    assert "unless the deploy confirms them over a new SSH connection" in done.stdout
    # Nothing applied yet: the answer reaches the deploy before any rule changes.
    assert host.rules_file.read_text() == BEFORE
    assert (host.stash / "rules.ip").read_text() == BEFORE
    assert not (host.stash / "rules.ip6").exists()
    assert (host.stash / "applied").read_text() == "digest-before\n"
    assert (host.stash / "journal").read_text() == f"{host.conf}\n{host.defaults}\n"
    kept = host.stash / f"journal.aitbc-prev{host.conf}"
    assert kept.read_text() == "version 6\n# before\n"
    assert not (host.stash / f"journal.aitbc-prev{host.defaults}").exists()  # none before
    calls = host.calls()
    revert, apply = _timer(calls, "aitbc-firehol-revert"), _timer(calls, "aitbc-firehol-apply")
    assert "--on-active=15" in revert and "--on-active=1" in apply
    for timer, action in ((revert, "revert"), (apply, "apply")):
        assert "--timer-property=AccuracySec=100ms" in timer and "--collect" in timer
        assert timer[timer.index("--") + 1:] == ["/bin/sh", str(host.program), action,
                                                 str(host.switch), str(host.applied)]
    assert not [c for c in calls if c[:2] == ["systemctl", "reload-or-restart"]]


def test_apply_then_confirm_keeps_the_new_rules(host):
    _changed(host)
    assert host.activate().returncode == 0
    assert host.confirm("probe").stdout == "pending\n"  # the apply timer has not run yet
    applied = host.run_timer("apply")
    assert applied.returncode == 0, applied.stderr
    assert host.rules_file.read_text() == AFTER
    assert host.applied.read_text().strip() not in ("", "digest-before")
    assert ["systemctl", "enable", "--quiet", "firehol"] in host.calls()
    assert host.confirm("probe").stdout == "applied\n"
    confirmed = host.confirm("disarm")
    digest = subprocess.run(["sha256sum", str(host.conf)], capture_output=True,
                            text=True).stdout.split()[0]
    assert confirmed.stdout == f"confirmed\t{digest}\n"
    assert ["systemctl", "stop", "--", "aitbc-firehol-revert.timer",
            "aitbc-firehol-revert.service"] in host.calls()
    assert not host.stash.exists()
    # The revert timer firing anyway (stopped too late) finds nothing to do.
    late = host.run_timer("revert")
    assert late.returncode == 0 and "nothing to revert" in late.stdout
    assert host.rules_file.read_text() == AFTER and host.conf.read_text() == "version 6\n# new rules\n"
    assert host.confirm("probe").stdout == "unarmed\n"


PRIME = ["INPUT", "-m", "conntrack", "--ctstate", "INVALID", "-m", "comment", "--comment",
         "aitbc-conntrack-prime"]


def test_connection_tracking_starts_before_the_rules_go_live_and_its_rule_goes_with_them(host):
    """On a host that never tracked connections, the open ones (the deploy's SSH) would be cut
    by rules admitting only ESTABLISHED traffic: the activation adds a rule that only reads the
    state, after saving the rules it keeps (which do not hold it); the apply takes it out once
    firehol's own rules are live, before their digest is recorded."""
    _changed(host)
    assert host.activate().returncode == 0
    calls = host.calls()
    saved = calls.index(["iptables-save"])
    prime = calls.index(["iptables", "-w", "-I", *PRIME])
    first_timer = min(i for i, c in enumerate(calls) if c[0] == "systemd-run")
    assert saved < prime < first_timer
    assert "aitbc-conntrack-prime" not in (host.stash / "rules.ip").read_text()
    assert host.run_timer("apply").returncode == 0
    calls = host.calls()
    started = calls.index(["systemctl", "reload-or-restart", "firehol.service"])
    removed = calls.index(["iptables", "-w", "-D", *PRIME])
    assert started < removed < calls.index(["iptables-save"], removed)  # the digest's read


def test_unconfirmed_rules_are_put_back_with_their_files_and_digest(host):
    _changed(host)
    assert host.activate().returncode == 0
    assert host.run_timer("apply").returncode == 0
    assert host.rules_file.read_text() == AFTER
    reverted = host.run_timer("revert")
    assert reverted.returncode == 0, reverted.stderr
    assert "did not confirm the new firewall rules" in reverted.stdout
    assert "the live rules of before" in reverted.stdout
    assert host.rules_file.read_text() == BEFORE
    assert host.conf.read_text() == "version 6\n# before\n"
    assert not host.defaults.exists()  # it did not exist before
    assert host.applied.read_text() == "digest-before\n"
    assert not host.stash.exists()
    # The nat table only the new rules had is emptied, as on a host that never had it.
    calls = host.calls()
    assert ["iptables", "-t", "nat", "-F"] in calls and ["iptables", "-t", "nat", "-X"] in calls
    assert ["iptables", "-t", "nat", "-P", "PREROUTING", "ACCEPT"] in calls
    assert not [c for c in calls if c[:3] == ["iptables", "-t", "filter"]]
    answer = host.confirm("disarm")
    word, when = answer.stdout.strip().split("\t")
    assert word == "reverted" and when.endswith("Z")
    assert (host.switch / "reverted").read_text().strip() == when


def test_firehol_failing_to_start_puts_everything_back_and_says_why(host):
    _changed(host)
    assert host.activate().returncode == 0
    failed = host.run_timer("apply", FIREHOL_FAILS="1")
    assert failed.returncode == 1
    assert host.rules_file.read_text() == BEFORE
    assert host.conf.read_text() == "version 6\n# before\n" and not host.defaults.exists()
    assert host.applied.read_text() == "digest-before\n"
    assert host.confirm("probe").stdout == f"failed\n{WORDS}\n"
    assert host.confirm("probe").stdout == "unarmed\n"  # said once
    assert not (host.switch / "reverted").exists()  # not a revert: nothing for status to name


def test_a_switch_left_armed_keeps_the_rules_of_before_it(host):
    """A run killed between its activation and its confirmation: the next one re-arms, and
    what is put back is still what was live before the killed run."""
    host.write(host.conf, "version 6\n# killed run\n")
    assert host.activate().returncode == 0
    assert host.run_timer("apply").returncode == 0
    host.calls()
    # The next run: new rules again, and a file the killed run did not write.
    host.write(host.conf, "version 6\n# next run\n")
    host.write(host.defaults, "START_FIREHOL=YES\n")
    again = host.activate()
    assert again.returncode == 0, again.stderr
    assert "stays armed" in again.stderr
    assert (host.stash / "rules.ip").read_text() == BEFORE
    assert (host.stash / "applied").read_text() == "digest-before\n"
    assert (host.stash / f"journal.aitbc-prev{host.conf}").read_text() == "version 6\n# before\n"
    assert (host.stash / "journal").read_text() == f"{host.conf}\n{host.defaults}\n"
    calls = host.calls()
    assert ["systemctl", "stop", "--", "aitbc-firehol-revert.timer",
            "aitbc-firehol-revert.service"] in calls  # the killed run's timers, replaced
    assert _timer(calls, "aitbc-firehol-revert")
    assert host.confirm("probe").stdout == "pending\n"  # the new rules go live again first
    assert host.run_timer("apply").returncode == 0
    assert host.run_timer("revert").returncode == 0
    assert host.rules_file.read_text() == BEFORE
    assert host.conf.read_text() == "version 6\n# before\n" and not host.defaults.exists()


@pytest.mark.parametrize("unit", ["aitbc-firehol-revert", "aitbc-firehol-apply"])
def test_a_timer_that_cannot_be_armed_applies_nothing(host, unit):
    _changed(host)
    done = host.activate(FAILING_UNIT=unit)
    assert done.returncode == 1 and f"cannot arm the {unit.rsplit('-', 1)[1]} timer" in done.stderr
    assert not host.stash.exists() and host.rules_file.read_text() == BEFORE
    calls = host.calls()
    assert not [c for c in calls if c[:2] == ["systemctl", "reload-or-restart"]]
    if unit.endswith("apply"):  # the revert timer it had armed is stopped again
        stop = ["systemctl", "stop", "--", "aitbc-firehol-revert.timer",
                "aitbc-firehol-revert.service"]
        assert max(i for i, c in enumerate(calls) if c == stop) > calls.index(_timer(calls, unit))


def test_confirmation_never_waits_for_a_busy_switch(host):
    """A connection made before the rules went live must not wait for the lock and answer for
    them afterwards: a busy switch (the apply under way) answers pending at once."""
    _changed(host)
    assert host.activate().returncode == 0
    assert host.run_timer("apply").returncode == 0
    holder = subprocess.Popen(["flock", str(host.switch / "lock"), "sleep", "30"])
    try:
        for _ in range(100):  # until flock holds it
            if subprocess.run(["flock", "-n", str(host.switch / "lock"), "true"]).returncode:
                break
        answer = host.confirm("disarm")
    finally:
        holder.kill()
        holder.wait()
    assert answer.returncode == 0 and answer.stdout == "pending\n"
    assert host.stash.exists()


def test_the_switch_program_is_a_file_of_its_own(host):
    """What the timers run has lib.sh and the shared names in it: no argument but its own."""
    text = host.program.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert f"set -- {shlex.join(SCRIPT_ARGUMENTS)} \"$@\"\n" in text
    assert text.endswith((SCRIPTS / "firehol-switch.sh").read_text())
    refused = host.sh(f"sh {shlex.quote(str(host.program))} undo /a /b")
    assert refused.returncode == 2 and "refused action" in refused.stderr


_GOOD = ("/s/applied", "/s/pending/firehol", "/s/switch", "aitbc-firehol-apply",
         "aitbc-firehol-revert", "15", "/usr/local/lib/aitbc-infra/firehol-switch")


@pytest.mark.parametrize("position, value", [
    (0, "relative/applied"), (1, "pending/firehol"), (2, "switch"), (3, "x; touch PWNED"),
    (4, "--help"), (4, "a b"), (5, "0"), (5, "015"), (5, "15s"), (5, ""), (6, "firehol-switch"),
])
def test_activation_refuses_before_doing_anything(host, position, value):
    args = list(_GOOD)
    args[position] = value
    done = host.sh(script("firehol-activate", *args))
    assert done.returncode == 2 and "firehol-activate: refused" in done.stderr
    assert host.calls() == [] and not list(host.root.rglob("PWNED"))


@pytest.mark.parametrize("args", [
    ("undo", "/s", "/s/applied"), ("revert", "s", "/s/applied"), ("apply", "/s", "applied")])
def test_switch_refuses_before_doing_anything(host, args):
    done = host.sh(f"sh {shlex.quote(str(host.program))} {shlex.join(args)}")
    assert done.returncode == 2 and "firehol-switch: refused" in done.stderr
    assert host.calls() == []


@pytest.mark.parametrize("args", [
    ("confirm", "/s", "aitbc-firehol-revert", "/c"), ("probe", "s", "aitbc-firehol-revert", "/c"),
    ("probe", "/s", "$(touch PWNED)", "/c"), ("disarm", "/s", "aitbc-firehol-revert", "c")])
def test_confirmation_refuses_before_doing_anything(host, args):
    done = host.sh(script("firehol-confirm", *args))
    assert done.returncode == 2 and "firehol-confirm: refused" in done.stderr
    assert host.calls() == [] and not list(host.root.rglob("PWNED"))


def test_the_state_read_names_an_armed_revert(host):
    state = script("firehol-state", str(host.applied), str(host.switch))
    assert "armed=" not in host.sh(state).stdout
    _changed(host)
    assert host.activate().returncode == 0
    deadline = int((host.stash / "deadline").read_text())
    said = dict(line.split("=", 1) for line in host.sh(state).stdout.splitlines())
    expected = subprocess.run(["date", "-u", "-d", f"@{deadline}", "+%Y-%m-%dT%H:%M:%SZ"],
                              capture_output=True, text=True).stdout.strip()
    assert said["armed"] == expected and said["applied"] == "digest-before"


def test_the_journal_the_deploy_runs_is_the_one_tested_here():
    """The arguments above are those of the rendered activation, in the same order."""
    step = firehol_journal(15).activate
    assert step.name == "firehol-activate" and step.args[3:6] == _GOOD[3:6]
    assert command(step).startswith("sh -c ")
    assert os.path.basename(step.args[-1]) == "firehol-switch"


# firehol on the legacy backend (bookworm's): its rules live in the legacy tables, which the
# default iptables (nft) neither shows nor restores; the nft tables hold nothing.
LEGACY_STUBS = {
    "iptables-legacy-save": 'print(open(os.environ["RULES"]).read(), end="")',
    "iptables-legacy-restore": 'open(os.environ["RULES"], "w").write(sys.stdin.read())',
    "iptables-legacy": STUBS["iptables"],
    "iptables-save": 'print("*filter\\n:INPUT ACCEPT [0:0]\\nCOMMIT")',
    "iptables-restore": "sys.stdin.read()",
}


def test_rules_of_the_legacy_backend_are_kept_and_put_back(host):
    stubs = Path(host.env["PATH"].split(":")[0])
    for name, body in LEGACY_STUBS.items():
        (stubs / name).write_text(f"#!{sys.executable}\n{_LOG}{body}\n")
        (stubs / name).chmod(0o755)
    _changed(host)
    assert host.activate().returncode == 0
    assert (host.stash / "rules.ip-legacy").read_text() == BEFORE
    assert host.run_timer("apply").returncode == 0
    assert host.rules_file.read_text() == AFTER  # firehol loaded the new rules (legacy)
    reverted = host.run_timer("revert")
    assert reverted.returncode == 0, reverted.stderr
    assert host.rules_file.read_text() == BEFORE
    assert ["iptables-legacy-restore"] in host.calls()

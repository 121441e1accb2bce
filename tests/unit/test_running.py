"""Whether a process runs the files on disk (aitbc_infra/running.py): the decision from
timestamps, the parsing of what the probes print, and the probes themselves run here."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from aitbc_infra import running
from aitbc_infra.plan import host_plan
from aitbc_infra.running import NginxReading

START = "Fri 2026-12-04 19:09:20.229433 UTC"
STARTED = 1796411360.229433  # the same instant


def test_systemd_times_are_read_to_the_microsecond():
    assert running.systemd_time(START) == pytest.approx(STARTED, abs=1e-6)
    assert running.systemd_time("") is None
    assert running.systemd_time("n/a") is None


def _unit(**values) -> dict[str, str]:
    return {"Id": "coordinator-api.service", "ActiveState": "active", "NeedDaemonReload": "no",
            "ExecMainStartTimestamp": START, "ActiveEnterTimestamp": START, **values}


def test_a_unit_started_after_its_files_runs_them():
    files = {"/etc/systemd/system/coordinator-api.service": STARTED - 3.1,
             "/etc/aitbc/coordinator-api.env": STARTED - 3.2}
    assert running.unit_problems("coordinator-api", _unit(), files) == []


def test_a_file_changed_after_the_start_is_named_with_both_times():
    files = {"/etc/systemd/system/coordinator-api.service": STARTED - 3,
             "/etc/aitbc/coordinator-api.env": STARTED + 60.5}
    assert running.unit_problems("coordinator-api", _unit(), files) == [
        "runs an older config: /etc/aitbc/coordinator-api.env changed 2026-12-04 19:10:20.729 UTC,"
        " after it started 2026-12-04 19:09:20.229 UTC"]


def test_a_unit_file_systemd_has_not_loaded():
    problems = running.unit_problems("coordinator-api", _unit(NeedDaemonReload="yes"), {})
    assert problems == ["systemd has not loaded its unit file since it changed (NeedDaemonReload=yes)"]


def test_a_socket_is_judged_by_when_it_started_listening():
    # A socket has no main process: systemd leaves ExecMainStartTimestamp empty.
    socket = _unit(Id="coordinator-api.socket", ExecMainStartTimestamp="")
    assert running.unit_problems("coordinator-api.socket", socket,
                                 {"/etc/systemd/system/coordinator-api.socket": STARTED - 1}) == []
    assert running.unit_problems("coordinator-api.socket", socket,
                                 {"/etc/systemd/system/coordinator-api.socket": STARTED + 1})


def test_the_main_process_start_counts_not_the_unit_activation():
    # A service whose process was restarted (by hand, or Restart=always) after a file changed:
    # ActiveEnterTimestamp may be older, the running process is what read the files.
    unit = _unit(ActiveEnterTimestamp="Fri 2026-12-04 19:00:00.000000 UTC")
    assert running.unit_problems("coordinator-api", unit, {"/etc/aitbc/x.env": STARTED - 60}) == []


def test_a_stopped_unit_is_left_to_the_active_check():
    assert running.unit_problems("coordinator-api", _unit(ActiveState="inactive"),
                                 {"/etc/aitbc/x.env": STARTED + 60}) == []


def test_a_change_in_the_same_instant_is_not_newer():
    assert running.changed_after(STARTED, {"/a": STARTED}) == []
    assert running.changed_after(STARTED, {"/a": STARTED + 1e-6, "/b": STARTED + 2}) == ["/b", "/a"]


def test_systemctl_show_of_several_units_splits_on_blank_lines():
    output = ("Id=a.service\nActiveState=active\nNeedDaemonReload=no\n\n"
              "Id=a.socket\nActiveState=active\nExecMainStartTimestamp=\n")
    assert running.parse_units(output) == {
        "a.service": {"Id": "a.service", "ActiveState": "active", "NeedDaemonReload": "no"},
        "a.socket": {"Id": "a.socket", "ActiveState": "active", "ExecMainStartTimestamp": ""}}


# nginx ----------------------------------------------------------------------------------------

CLOCK = "clock 22900 1796411387.500000000 100"  # booted at 1796411158.5


def test_nginx_loaded_its_config_when_its_oldest_serving_worker_started():
    reading = running.parse_nginx("\n".join([
        CLOCK,
        "worker 22875 nginx: worker process                ",
        "worker 22876 nginx: worker process                ",
        # Still serving the connections it had before the last reload: not a sign of it.
        "worker 20000 nginx: worker process is shutting down",
        "worker 22877 nginx: cache manager process",
        "changed 1796411386.80 /etc/nginx/sites-available/site",
        "changed 1796411380.00 /etc/nginx/sites-available/site",
        "find: '/etc/letsencrypt/live/x/fullchain.pem': No such file or directory",
    ]))
    assert reading.loaded == pytest.approx(1796411158.5 + 228.75)
    assert reading.changed == {"/etc/nginx/sites-available/site": 1796411386.80}
    assert running.nginx_problems(reading) == []


def test_nginx_with_a_file_changed_after_its_last_load_is_stale():
    loaded = 1796411387.25
    late = NginxReading(loaded, {"/etc/nginx/nginx.conf": loaded - 100,
                                 "/etc/nginx/sites-available/site": loaded + 30})
    assert running.nginx_problems(late) == [
        "runs an older config: /etc/nginx/sites-available/site changed 2026-12-04 19:10:17.250 UTC, "
        "after nginx last loaded its configuration 2026-12-04 19:09:47.250 UTC"]


def test_nginx_start_times_are_read_in_ticks_so_a_change_within_them_does_not_count():
    # The worker's start is known to a tick or so: a file written just before a reload can
    # look a few milliseconds newer than the computed start, and must not count.
    loaded = 1796411387.25
    assert running.nginx_problems(NginxReading(loaded, {"/etc/nginx/x": loaded + 0.02})) == []
    assert running.nginx_problems(NginxReading(loaded, {"/etc/nginx/x": loaded + 0.2}))


def test_no_worker_is_a_failure():
    assert running.nginx_problems(running.parse_nginx(CLOCK)) == [
        "no nginx worker process (is nginx running?)"]


def test_the_nginx_probe_reads_workers_and_times_as_they_are(tmp_path):
    """The probe, run here: a stand-in main process (named by a stub `systemctl`) with a worker,
    a worker shutting down and a file; the worker's start comes out within a tick or two of
    when it was started, on the realtime clock."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "systemctl").write_text('#!/bin/sh\ncat "$MAIN_PID_FILE"\n')
    (stubs / "systemctl").chmod(0o755)
    config = tmp_path / "nginx"
    config.mkdir()
    (config / "site").write_text("server {}\n")
    os.utime(config / "site", (1_000_000_000.25, 1_000_000_000.25))
    (config / "enabled").symlink_to(config / "site")
    main = tmp_path / "main.pid"
    # The worker shutting down is the older one: it must not count as nginx's last load.
    master = subprocess.Popen(["bash", "-c", 'exec -a "nginx: worker process is shutting down" '
                               'sleep 30 & sleep 0.5; exec -a "nginx: worker process" sleep 30 & wait'],
                              start_new_session=True)
    try:
        time.sleep(0.25)
        before = time.time()
        time.sleep(0.6)
        after = time.time()
        main.write_text(f"{master.pid}\n")
        if not Path(f"/proc/{master.pid}/task/{master.pid}/children").exists():
            pytest.skip("this kernel lists no /proc/PID/task/TID/children")
        output = subprocess.run(
            ["sh", "-c", running.nginx_command([str(config)])], capture_output=True, text=True,
            env={**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "MAIN_PID_FILE": str(main)},
            check=True).stdout
    finally:
        os.killpg(master.pid, signal.SIGTERM)  # the stand-in and its two children
        master.wait()
    reading = running.parse_nginx(output)
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert before - 2 * tick <= reading.loaded <= after + 2 * tick, output
    assert reading.changed[str(config / "site")] == pytest.approx(1_000_000_000.25)
    assert str(config / "enabled") in reading.changed  # the link, its own time or its target's


def test_the_mtimes_probe_reads_a_links_own_time(tmp_path):
    target = tmp_path / "releases" / "r1"
    target.mkdir(parents=True)
    venv = tmp_path / ".venv"
    venv.symlink_to("releases/r1")
    os.utime(target, (1_000_000_000, 1_000_000_000))
    env = tmp_path / "x.env"
    env.write_text("A=1\n")
    command = running.mtimes_command([str(venv), str(env), str(tmp_path / "absent")])
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    found = running.parse_mtimes(result.stdout)
    assert set(found) == {str(venv), str(env)}
    assert found[str(venv)] == pytest.approx(venv.lstat().st_mtime)  # the switch, not the release
    assert found[str(env)] == pytest.approx(env.stat().st_mtime)


# What each unit reads --------------------------------------------------------------------------


def test_each_unit_reads_its_own_files_and_its_release(fleet):
    host = fleet.hosts["aitbc"]
    inputs = running.unit_inputs(host, host_plan(fleet, host).files)
    assert inputs["coordinator-api"] == [
        "/etc/aitbc/coordinator-api.env", "/etc/systemd/system/coordinator-api.service",
        "/etc/systemd/system/coordinator-api.socket", "/opt/coordinator-api/.venv"]
    assert inputs["coordinator-api.socket"] == ["/etc/systemd/system/coordinator-api.socket"]
    # Every unit the host's apps run, sockets of listening services included; no candidate.
    assert set(inputs) == {u for app in host.apps for svc in app.services
                           for u in (svc.unit, *([f"{svc.unit}.socket"] if svc.port else []))}
    assert not any("candidate" in p for paths in inputs.values() for p in paths)


def test_a_service_without_port_has_no_socket(fleet):
    host = fleet.hosts["at1"]
    inputs = running.unit_inputs(host, host_plan(fleet, host).files)
    assert "aitbc-gpu-miner" in inputs and "aitbc-gpu-miner.socket" not in inputs


def test_nginx_reads_its_config_and_each_tls_sites_certificate(fleet):
    assert running.nginx_inputs(fleet.hosts["at1"]) == [
        "/etc/nginx", "/etc/letsencrypt/live/bubuit.net/fullchain.pem",
        "/etc/letsencrypt/live/bubuit.net/privkey.pem"]
    assert running.nginx_inputs(fleet.hosts["ns3-root"]) == [
        "/etc/nginx", "/etc/letsencrypt/live/keisanki.net/fullchain.pem",
        "/etc/letsencrypt/live/keisanki.net/privkey.pem"]
    assert running.nginx_inputs(fleet.hosts["aitbc"]) == ["/etc/nginx"]


def test_the_probes_keep_each_path_one_argument(tmp_path):
    hostile = tmp_path / "x; touch PWNED; $(touch PWNED) 'q'"
    hostile.write_text("")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "systemctl").write_text("#!/bin/sh\necho 0\n")
    (stubs / "systemctl").chmod(0o755)
    for command in (running.mtimes_command([str(hostile)]), running.nginx_command([str(hostile)])):
        out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, cwd=tmp_path,
                             env={**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}"}).stdout
        assert str(hostile) in out
    assert not list(tmp_path.rglob("PWNED"))
    assert shlex.split(running.units_command(["a; touch PWNED"]))[-1] == "a; touch PWNED.service"
    with pytest.raises(ValueError, match="absolute paths only"):
        running.mtimes_command(["-newer"])

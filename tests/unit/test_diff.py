"""`aitbc-infra diff` in a throw-away git repository: names exactly what a commit changes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from unit_helpers import git, project_repo

SECRET = "Sup3r-s3cret-value-for-the-diff-test"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return project_repo(tmp_path_factory.mktemp("repo"))


def _commit(repo: Path, file: str, old: str, new: str, message: str) -> None:
    path = repo / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    git(repo, "commit", "-qam", message)


def _diff(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(repo / "src"), "JWT_SECRET": SECRET,
           "SESSION_SECRET": SECRET, "DATABASE_URL": f"postgresql://u:{SECRET}@h/db"}
    return subprocess.run([sys.executable, "-m", "aitbc_infra", "diff", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)


def test_unchanged_tree_prints_no_changes(repo):
    proc = _diff(repo, "--base", "HEAD")
    assert (proc.returncode, proc.stdout) == (0, "no changes against HEAD\n"), proc.stderr


def test_route_change_names_one_file_and_a_reload(repo):
    _commit(repo, "group_data/aitbc_container.py", '"to": "/docs/browser-wallet.html"',
            '"to": "/docs/index.html"', "route")
    proc = _diff(repo, "--base", "HEAD~1")
    assert proc.returncode == 1, proc.stderr
    assert "+        return 301 /docs/index.html;" in proc.stdout
    summary = proc.stdout.split("Summary against HEAD~1:")[1]
    assert "1 host(s), 1 file(s) changed" in summary
    assert "aitbc      files 1   restart: –   reload: nginx reload" in summary
    # The deploy's own decision, in its words (aitbc_infra/decision.py).
    assert "reload nginx: /etc/nginx/sites-available/aitbc.bubuit.net changed\n" in summary


def test_port_change_names_site_sockets_env_and_one_restart(repo):
    _commit(repo, "group_data/aitbc_container.py", '"port": 8002,', '"port": 8012,', "port")
    proc = _diff(repo, "--base", "HEAD~1")
    assert proc.returncode == 1, proc.stderr
    assert "aitbc      files 4   restart: aitbc-wallet-daemon   reload: nginx reload" in proc.stdout
    for path in ("/etc/nginx/sites-available/aitbc.bubuit.net",
                 "/etc/systemd/system/aitbc-wallet-daemon.socket",
                 "/etc/systemd/system/aitbc-wallet-daemon-candidate@.socket",
                 "/etc/aitbc/aitbc-wallet-daemon.env"):
        assert f"+++ aitbc:{path}" in proc.stdout
    markdown = _diff(repo, "--base", "HEAD~1", "--format", "markdown").stdout
    assert "<details><summary>aitbc (4 files)</summary>" in markdown
    assert "| aitbc | 4 | aitbc-wallet-daemon | nginx reload |" in markdown
    socket, env = ("/etc/systemd/system/aitbc-wallet-daemon.socket", "/etc/aitbc/aitbc-wallet-daemon.env")
    line = f"restart aitbc-wallet-daemon.socket and aitbc-wallet-daemon: {socket} changed; {env} changed"
    assert f"  {line}\n" in proc.stdout and f"- `{line}`" in markdown


def test_source_change_names_the_release_restarts(repo):
    # A source file of the wallet daemon's tree: its release changes, nothing rendered does.
    _commit(repo, "payload/apps/wallet-daemon/src/app/main.py", "\n", "\n# a new release\n",
            "wallet source")
    proc = _diff(repo, "--base", "HEAD~1")
    assert proc.returncode == 1, proc.stderr
    assert "aitbc      files 0   restart: aitbc-wallet-daemon   reload: –" in proc.stdout
    assert "restart aitbc-wallet-daemon: release releases/" in proc.stdout


def test_no_secret_value_in_any_output(repo):
    for fmt in ("text", "markdown"):
        out = _diff(repo, "--base", "HEAD~2", "--format", fmt)
        assert SECRET not in out.stdout + out.stderr


def test_bad_ref_and_broken_model_exit_2(repo):
    proc = _diff(repo, "--base", "no-such-ref")
    assert proc.returncode == 2 and "no-such-ref" in proc.stderr
    broken = repo / "group_data" / "ns3_host.py"
    good = broken.read_text()
    broken.write_text(good.replace('"port": 9080', '"port": 9090'))
    try:
        proc = _diff(repo, "--base", "HEAD")
        assert proc.returncode == 2
        assert "the working tree" in proc.stderr and "firewall.forwards[3].port" in proc.stderr
    finally:
        broken.write_text(good)


def test_sshd_forwarding_change_names_one_file_and_an_ssh_reload(repo):
    _commit(repo, "group_data/ns3_container.py", '\ncontainer = {',
            '\nsshd = {"tcp_forwarding": "local"}\n\ncontainer = {', "sshd forwarding")
    proc = _diff(repo, "--base", "HEAD~1")
    assert proc.returncode == 1, proc.stderr
    assert "\n-AllowTcpForwarding no\n" in proc.stdout
    assert "\n+AllowTcpForwarding local\n" in proc.stdout
    assert "+++ ns3-aitbc:/etc/ssh/sshd_config.d/00-aitbc.conf" in proc.stdout
    assert "ns3-aitbc  files 1   restart: –   reload: ssh reload" in proc.stdout


def test_json_names_each_file_and_the_decision_and_validates(repo):
    from aitbc_infra.json_schema import load, problems

    none = _diff(repo, "--base", "HEAD", "--json")
    assert none.returncode == 0, none.stderr
    assert json.loads(none.stdout)["hosts"] == {}
    _commit(repo, "group_data/aitbc_container.py", '"env": {"LEDGER_DB_PATH": ',
            '"env": {"WALLET_NAME": "test", "LEDGER_DB_PATH": ', "wallet env")
    proc = _diff(repo, "--base", "HEAD~1", "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)  # the whole of stdout is the document
    assert problems(doc, load("diff")) == []
    assert SECRET not in proc.stdout + proc.stderr
    assert (doc["exit_code"], doc["changes"], list(doc["hosts"])) == (1, True, ["aitbc"])
    aitbc = doc["hosts"]["aitbc"]
    env = "/etc/aitbc/aitbc-wallet-daemon.env"
    assert [(f["path"], f["change"]) for f in aitbc["files"]] == [(env, "changed")]
    assert '+WALLET_NAME="test"' in aitbc["files"][0]["diff"]
    assert aitbc["restarts"] == ["aitbc-wallet-daemon"] and aitbc["reloads"] == []
    assert aitbc["decision"]["restarts"] == [{"unit": "aitbc-wallet-daemon", "app": "wallet-daemon",
                                              "action": "restart", "reasons": [f"{env} changed"]}]
    assert aitbc["decision"]["lines"] == [f"restart aitbc-wallet-daemon: {env} changed"]

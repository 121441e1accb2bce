"""firehol failing at `start` after its `debug` validation passed, with requests running.

`firehol CONF debug` compiles the rules without loading them, so it cannot see what only the
kernel checks when the rules load. Here: an admin allow-list naming an ipset that was never
created on the host. The rules are applied by the host's apply timer after the activation
answered (deploys/scripts/firehol-switch.sh): the deploy must fail naming firehol in its own
words, the previous firehol.conf, live rules and applied digest must be back (the forwards keep
answering), firehol.service active (the host `running`, not `degraded`), and the next run of
the real tree must converge.
The request loop's report shows what the failed start cost.
"""

from __future__ import annotations

from deploy_helpers import assert_clean, assert_noop, changed_tree, deploy, request_loop
from system_state import not_running

from aitbc_infra.host_names import FIREHOL_APPLIED_DIGEST, FIREHOL_CONF
from aitbc_infra.sandbox import ssh_run
from deploys.shell import script

NODE = "ns3-root"
IPSET = "aitbc-admins"
# What the test compares before and after: the config on disk, the live rules, the digest the
# last successful apply recorded, and the unit's state.
SNAPSHOT = (f"sha256sum {FIREHOL_CONF}; {script('firehol-state', FIREHOL_APPLIED_DIGEST)}; "
            "systemctl show -p ActiveState -p UnitFileState -p SubState firehol.service")


def test_firehol_start_failing_after_validation_restores_everything(deployed_inventory, tmp_path):
    # Where the template writes a forward's route: only a host with forwards (ns3-root) gets it.
    route = '    route custom aitbc-{{ fwd.port }} "tcp/{{ fwd.port }}" default accept dst ' \
            '{{ fwd.address }}{{ fwd.src }}\n'
    tree = changed_tree(tmp_path, "templates/firehol/firehol.conf.j2", route,
                        f"{route}    route ssh accept src ipset:{IPSET}\n")
    # The fault is real: the host has no such set, and firehol's own validation lets it through.
    assert ssh_run(NODE, f"ipset list -n {IPSET}").returncode != 0
    before = ssh_run(NODE, SNAPSHOT, check=True).stdout
    assert "ActiveState=active" in before, before

    with request_loop("firehol start failing after its validation passed") as traffic:
        run = deploy(deployed_inventory, tree)

    assert run.returncode == 1, run.output[-3000:]
    assert run.results["failed_hosts"] == [NODE]
    assert "REJECTED" not in run.output  # validation passed: this is the start failing
    assert f"{NODE}: firehol did not start the new rules; the previous rules and firehol files " \
        "are back" in run.output, run.output[-3000:]
    assert IPSET in run.output, run.output[-3000:]  # firehol's own words name the missing set
    # Previous config on disk, previous live rules, unit still active: nothing changed.
    assert ssh_run(NODE, SNAPSHOT, check=True).stdout == before
    assert_clean(deployed_inventory)  # no journal or .aitbc-prev copy left behind
    assert not_running([NODE]) == {}
    # A failed start is not atomic: firehol loads the new tables, one fails, and it loads the
    # saved ones back. The forwards (and only they) miss requests for that moment (0.4 s here).
    forwards = {name for name in traffic.counts if name.startswith("ns3:")}
    assert traffic.failed_routes() <= forwards, traffic.report()
    assert max(traffic.counts[f].outage_seconds for f in forwards) < 2, traffic.report()
    assert traffic.failing_at_the_end() == set(), traffic.report()

    assert_noop(deployed_inventory)  # the real tree: nothing owed, nothing changed
    assert not_running([NODE]) == {}

"""firehol on a firewall host: a changed config is parsed by firehol (`debug` mode) before it
is activated, and restored when that fails. The rules are also re-applied when the live rules
drifted from what firehol last applied, when firehol.service is not active (failed since the
package's install, stopped by hand) or not enabled (no rules after a reboot), or when an
earlier run left their revert armed: aitbc_infra/decision.py decides it,
deploys/scripts/firehol-*.sh say how.

New rules cannot lock the deploy out. The activation keeps what they replace and arms two
timers on the host: the rules go live a second after its answer reached the deploy, and come
off again after the host's `firewall.confirm_seconds` unless confirmed. Right after it, the
deploy confirms them over new SSH connections of its own (aitbc_infra/firewall_confirm.py says
what it asks and what each answer means). A host whose confirmation fails (the rules cut this
machine out, or firehol did not start them) is failed with that said; the host puts the
previous rules back by itself.
"""

from pyinfra import logger
from pyinfra.operations import python

from aitbc_infra import firewall_confirm
from aitbc_infra.decision import Decision
from aitbc_infra.drift import State
from aitbc_infra.host_names import FIREHOL_CONF
from aitbc_infra.model import HostSpec
from aitbc_infra.plan import HostPlan
from aitbc_infra.remote import SSH_FAILED, host_argv, runner
from aitbc_infra.render import firehol_journal
from deploys import apply, lock


def deploy(spec: HostSpec, plan: HostPlan, state: State, decision: Decision) -> None:
    if spec.firewall is None:
        return
    journal = firehol_journal(spec.firewall.confirm_seconds)
    apply.journal(plan, state, journal, decision)
    if journal.name in decision.journals:  # applied by this run: confirmed right after
        seconds = spec.firewall.confirm_seconds
        conf = next(f.content for f in plan.files if f.path == FIREHOL_CONF)
        python.call(name=f"firehol: confirm the new rules over a new SSH connection (else the "
                    f"host puts the previous ones back within {seconds} s)",
                    function=confirm, seconds=seconds, rendered_conf=conf)


def confirm(state, host, seconds: int, rendered_conf: str) -> bool:
    """Run by pyinfra in operation order (its signature asks for state and host, so the return
    value is the operation's status), never over pyinfra's own connection.

    For `@local` the questions run on this machine, as every other command: the deploy runs on
    the host itself, and a connection from the host to itself goes over loopback, which the
    rules leave open, so no connection could show whether they cut anyone out. What it confirms
    there is that the run that applied them is still alive to confirm: an operator's session
    whose loss killed the run gets the previous rules back."""
    argv = host_argv(host.name, host.data.dict(), new=True,
                     connect_timeout=firewall_confirm.connect_timeout(seconds))
    run = runner({host.name: argv}, timeout=firewall_confirm.attempt_timeout(seconds))
    answers = []

    def ask(command: str):
        answers.append(run(host.name, command))
        return answers[-1]

    problem = firewall_confirm.confirm(ask, host.name, seconds, rendered_conf)
    if problem is None:
        host.log("firehol: new rules confirmed over a new SSH connection", logger.info)
        return True
    host.log(problem, logger.error)
    if answers[-1].returncode == SSH_FAILED:
        lock.unreachable(host.name)  # pyinfra's own connection may be cut as well
    return False

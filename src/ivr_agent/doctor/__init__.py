"""``ivr-agent doctor``: checks a live PBX and the agent's own setup, one line per check
with OK, WARN or FAIL and the fix for each failure.

:mod:`.checks` holds the verdicts and :mod:`.report` the text (both pure);
:mod:`.probes` gathers the facts over the agent's own AMI and ARI credentials, from its
prompts directory and its database.
"""

from ivr_agent.doctor.checks import Check, Status
from ivr_agent.doctor.probes import HooksFile, diagnose
from ivr_agent.doctor.report import exit_status, render

__all__ = ["Check", "HooksFile", "Status", "diagnose", "exit_status", "render"]

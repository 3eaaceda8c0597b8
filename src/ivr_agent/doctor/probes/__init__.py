"""Gathering what ``ivr-agent doctor`` judges: from the PBX over the agent's own AMI and ARI
credentials, from its prompts directory and from its database.

Theory of operation. The agent's AMI user may write only ``call`` and ``user``, which rules
out ``Command`` (``manager show user``), ``ShowDialPlan`` and ``Filter``. What such a user
can still learn:

* ``ListCommands`` lists the actions the user's *write* classes allow, each with its
  classes (:class:`~.checks.WriteClasses` infers the classes from them);
* ``Getvar`` (class ``call``) evaluates a dialplan function on the PBX: ``AST_CONFIG()``
  reads manager.conf (``read =``, ``timestampevents``) and the hook contexts' lines in
  extensions.conf as they are on disk; ``DIALPLAN_EXISTS()`` tells whether each hook
  context is loaded; ``IFMODULE()`` whether ``func_talkdetect.so`` is; ``ASTDATADIR`` where
  ``sound:`` files live;
* a ``UserEvent`` the doctor sends comes back to it if the user reads ``user`` and the
  event filter lets ``UserEvent`` through; its ``Timestamp`` tells ``timestampevents`` and
  the PBX's clock (:class:`~ivr_agent.pbx.clock.PbxClock`, as the agent measures it).

Prompts: with http delivery the PBX must reach ``PROMPTS_URL``; the doctor has it fetch
``PROMPTS_URL/healthz`` through ``CURL()`` — from the running agent, or, when nothing listens
on ``IVR_AGENT_HTTP_LISTEN``, from a stand-in the doctor serves there for that moment (a
filtered address leaves one manager thread of the PBX in libcurl's connect timeout; the doctor
gives up after 5 s). With directory delivery the PBX must see ``PROMPTS_DIR`` as
``ASTDATADIR/sounds/PREFIX``: the doctor writes a probe file there and has the PBX read it
back through ``AST_CONFIG()``.

The doctor changes nothing on the PBX that a running agent would notice: its
``UserEvent`` is named ``IvrAgentDoctor`` (the tracker ignores UserEvents it does not
know), the empty bridge it creates and destroys through ARI (its ``BridgeCreate`` must not
get through the event filter) carries no channel, and the probe file it writes into the
prompts directory (read back by the PBX through ``AST_CONFIG()``) is removed at once.
"""

from ivr_agent.doctor.probes.diagnosis import HooksFile, diagnose
from ivr_agent.doctor.probes.services import notify_checks

__all__ = ["HooksFile", "diagnose", "notify_checks"]

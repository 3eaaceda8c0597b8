"""What ``ivr-agent doctor`` concludes from what it found: one :class:`Check` per question,
with the fix for anything that is not OK.

Pure: every verdict takes the facts as plain values (:mod:`ivr_agent.doctor.probes` gathers
them from the PBX, the filesystem and the database), so each verdict and its wording is
unit-tested without a PBX. ``FAIL`` is something the agent cannot work right with; ``WARN`` is
advice (it works, but not as well or as safely as it could); ``SKIP`` is a check that could not
run because an earlier one failed (that one names the cause).

One module per subject: :mod:`.ami`, :mod:`.pbx` (ARI and the dialplan), :mod:`.prompts`,
:mod:`.services` (clock, database, recordings, mail); :mod:`.verdict` holds :class:`Check`.
"""

from ivr_agent.doctor.checks.ami import (
    AMI_READ_CLASSES,
    AMI_WRITE_CLASSES,
    WriteClasses,
    ami_event_filter,
    ami_login,
    ami_read_classes,
    ami_timestamps,
    ami_write_classes,
)
from ivr_agent.doctor.checks.pbx import (
    ari_app,
    ari_login,
    dialplan_hooks,
    hook_contexts,
    inbound_recorder,
    return_call_route,
    stasis_apps,
    talk_detect,
)
from ivr_agent.doctor.checks.prompts import (
    Reach,
    Visibility,
    prompt_files,
    prompts_on_pbx,
    prompts_over_http,
)
from ivr_agent.doctor.checks.services import (
    SKEW_FAIL_SECONDS,
    SKEW_OK_SECONDS,
    clock_skew,
    database,
    departments_file,
    recordings,
    smtp_server,
)
from ivr_agent.doctor.checks.verdict import Check, Status, class_names, first_few, joined, skipped

__all__ = [
    "AMI_READ_CLASSES",
    "AMI_WRITE_CLASSES",
    "SKEW_FAIL_SECONDS",
    "SKEW_OK_SECONDS",
    "Check",
    "Reach",
    "Status",
    "Visibility",
    "WriteClasses",
    "ami_event_filter",
    "ami_login",
    "ami_read_classes",
    "ami_timestamps",
    "ami_write_classes",
    "ari_app",
    "ari_login",
    "class_names",
    "clock_skew",
    "database",
    "departments_file",
    "dialplan_hooks",
    "first_few",
    "hook_contexts",
    "inbound_recorder",
    "joined",
    "prompt_files",
    "prompts_on_pbx",
    "prompts_over_http",
    "recordings",
    "return_call_route",
    "skipped",
    "smtp_server",
    "stasis_apps",
    "talk_detect",
]

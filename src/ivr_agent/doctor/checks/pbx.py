"""Verdicts on the PBX's side of ARI and the dialplan: login, the Stasis app, the hook
contexts, the return-call route and the modules the agent relies on."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ivr_agent.doctor.checks.verdict import Check, Status, first_few, joined

_CONTEXT = re.compile(r"^\s*\[([^\]\s]+)\]", re.M)
_STASIS = re.compile(r"\bStasis\(\s*([^,)\s]+)")


#: A bare ARI request slower than this (its fastest of a few) is worth a WARN: with a
#: SHA-512 crypt password of 5,000 rounds it took 5-7 ms in the sandbox, with 1,000 rounds
#: about 1 ms.
SLOW_REQUEST_MS = 4.0


def ari_login(
    user: str,
    address: str,
    *,
    error: str | None,
    status: int | None,
    version: str | None,
    write_error: str | None = None,
    write_status: int | None = None,
    request_ms: float | None = None,
) -> Check:
    """ARI answered ``GET /asterisk/info`` (``error``/``status`` when not) and let the user
    create a bridge (``write_error``/``write_status`` when not); WARN when even its fastest
    bare request took over :data:`SLOW_REQUEST_MS` (``request_ms``): the PBX spends that on
    every request the agent makes."""
    name = "ari login"
    if error is not None:
        if status == 401:
            fix = "check the user and password of IVR_AGENT_ARI_URL against ari.conf"
        else:
            fix = (
                "check the host and port of IVR_AGENT_ARI_URL; http.conf needs enabled = yes "
                "and ari.conf enabled = yes"
            )
        return Check(name, Status.FAIL, f"{user}@{address}: {error}", fix)
    found = f"{user}@{address}" + (f", Asterisk {version}" if version else "")
    if write_error is not None:
        if write_status == 403:
            return Check(
                name,
                Status.FAIL,
                f"{found}: the user is read-only (creating a bridge: 403)",
                f"in ari.conf under [{user}]: read_only = no; then: asterisk -rx 'module "
                "reload res_ari.so'",
            )
        return Check(name, Status.FAIL, f"{found}: creating a bridge failed: {write_error}")
    if request_ms is None:
        return Check(name, Status.OK, found)
    found += f", {request_ms:.1f} ms per request"
    if request_ms > SLOW_REQUEST_MS:
        return Check(
            name,
            Status.WARN,
            found,
            "the PBX checks the ARI password on every request; SHA-512 crypt's usual 5,000 "
            "rounds cost about 5 ms each: put the user `ivr-agent ari-user` prints (1,000 "
            "rounds) in ari.conf, then: asterisk -rx 'module reload res_ari.so' (for a PBX "
            "on another host this time also holds the network's round trip)",
        )
    return Check(name, Status.OK, found)


def ari_app(app: str, registered: bool, hook_apps: frozenset[str] | None) -> Check:
    """The agent's Stasis app (``IVR_AGENT_ARI_APP``) against the app the PBX's hook
    contexts hand calls to (``hook_apps``; None when extensions.conf is not readable)."""
    name = "ari app"
    now = "an agent is connected now" if registered else "no agent connected now"
    if hook_apps is None or not hook_apps:
        return Check(name, Status.OK, f"{app} ({now}; the hooks' Stasis() app not readable)")
    if hook_apps != {app}:
        return Check(
            name,
            Status.FAIL,
            f"the PBX's hooks hand calls to Stasis({joined(hook_apps)}), the agent is {app}",
            "make them agree: `ivr-agent dialplan` prints the hooks for IVR_AGENT_ARI_APP; "
            "then: asterisk -rx 'dialplan reload'",
        )
    return Check(name, Status.OK, f"{app}, as the PBX's hooks name it ({now})")


# --- the dialplan and the PBX's modules -------------------------------------------------------


def hook_contexts(text: str) -> list[str]:
    """The ``[context]`` names of a dialplan file, in order."""
    return _CONTEXT.findall(text)


def stasis_apps(lines: Iterable[str]) -> frozenset[str]:
    """The apps ``Stasis(APP,…)`` calls in these dialplan lines name."""
    return frozenset(m.group(1) for line in lines for m in _STASIS.finditer(line))


def dialplan_hooks(exists: Mapping[str, str], source: str) -> Check:
    """Each hook context of ``source`` (the hooks file) against ``DIALPLAN_EXISTS(ctx,s,1)``
    on the PBX (``exists``: "1", "0", or "" when the function is not there)."""
    name = "dialplan hooks"
    missing = [ctx for ctx, value in exists.items() if value.strip() == "0"]
    unknown = [ctx for ctx, value in exists.items() if value.strip() not in {"0", "1"}]
    fix = (
        "`ivr-agent dialplan > /etc/asterisk/ivr-agent-hooks.conf`, "
        '#include "ivr-agent-hooks.conf" in extensions.conf; then: asterisk -rx '
        "'dialplan reload'"
    )
    if missing:
        return Check(
            name, Status.FAIL, f"missing on the PBX: {first_few(missing)} (from {source})", fix
        )
    if unknown:
        return Check(
            name,
            Status.WARN,
            f"cannot tell whether {first_few(unknown)} exist: DIALPLAN_EXISTS() answered nothing "
            "(func_dialplan not loaded?)",
            "load func_dialplan.so, or check `dialplan show` by hand",
        )
    if not exists:
        return Check(name, Status.FAIL, f"no [context] in {source}")
    return Check(name, Status.OK, f"{', '.join(exists)} present")


def inbound_recorder(recorder: str, hook_lines: list[str] | None) -> Check:
    """``IVR_AGENT_INBOUND_RECORDER`` against the PBX's hook lines (None: not readable): in
    ``mixmonitor`` mode the ``ivr-agent-inbound`` hook must run the agent's MixMonitor."""
    name = "inbound recorder"
    if recorder != "mixmonitor":
        return Check(name, Status.OK, f"{recorder}: a snoop channel per answered call, over ARI")
    if hook_lines is None:
        return Check(
            name,
            Status.WARN,
            "mixmonitor: cannot read the PBX's hooks (AST_CONFIG of extensions.conf answered "
            "nothing)",
            "check by hand: asterisk -rx 'dialplan show ivr-agent-inbound' names "
            "MixMonitor(…${IVR_AGENT_MIXMONITOR}…)",
        )
    if any("MixMonitor(" in line and "IVR_AGENT_MIXMONITOR" in line for line in hook_lines):
        return Check(name, Status.OK, "mixmonitor: the ivr-agent-inbound hook records callers")
    return Check(
        name,
        Status.FAIL,
        "mixmonitor, but the PBX's hooks start no MixMonitor: every answered call's recording "
        "would be missing",
        "install this version's hooks: `ivr-agent dialplan > /etc/asterisk/ivr-agent-hooks.conf`"
        "; then: asterisk -rx 'dialplan reload' (or set IVR_AGENT_INBOUND_RECORDER=snoop)",
    )


def return_call_route(exists: str | None, route: str) -> Check:
    """``DIALPLAN_EXISTS(route)`` on the PBX for the return calls' operator route (S8):
    "1", "0", or "" when the function is not there."""
    name = "return call route"
    value = (exists or "").strip()
    if value == "1":
        return Check(name, Status.OK, f"{route} exists: return calls are handed to it")
    fix = (
        "add the context with your Queue() (README: Return calls), or set "
        "IVR_AGENT_RETURN_CALL_CONTEXT/_EXTENSION/_PRIORITY to your route; then: "
        "asterisk -rx 'dialplan reload'"
    )
    if value == "0":
        return Check(
            name,
            Status.FAIL,
            f"{route} missing on the PBX: abandoned callers would be called back and "
            "not reach an operator",
            fix,
        )
    return Check(
        name,
        Status.WARN,
        f"cannot tell whether {route} exists: DIALPLAN_EXISTS() answered nothing "
        "(func_dialplan not loaded?)",
        "check by hand: asterisk -rx 'dialplan show " + route.split(",", 1)[0] + "'",
    )


def talk_detect(loaded: str | None) -> Check:
    """``IFMODULE(func_talkdetect.so)`` on the PBX: "1", "0", or "" (IFMODULE not there)."""
    name = "talk detection"
    value = (loaded or "").strip()
    if value == "1":
        return Check(name, Status.OK, "TALK_DETECT() available (func_talkdetect.so loaded)")
    if value == "0":
        return Check(
            name,
            Status.FAIL,
            "TALK_DETECT() missing: func_talkdetect.so not loaded, so no silent-caller "
            "prompts (S3)",
            "asterisk -rx 'module load func_talkdetect.so' (and no noload for it in modules.conf)",
        )
    return Check(
        name,
        Status.WARN,
        "cannot tell: IFMODULE() answered nothing (func_module not loaded?)",
        "check by hand: asterisk -rx 'core show function TALK_DETECT'",
    )

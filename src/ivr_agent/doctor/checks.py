"""What ``ivr-agent doctor`` concludes from what it found: one :class:`Check` per question,
with the fix for anything that is not OK.

Pure: every verdict takes the facts as plain values (:mod:`.probes` gathers them from the
PBX, the filesystem and the database), so each verdict and its wording is unit-tested
without a PBX. ``FAIL`` is something the agent cannot work right with; ``WARN`` is advice
(it works, but not as well or as safely as it could); ``SKIP`` is a check that could not
run because an earlier one failed (that one names the cause).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: The AMI classes of the agent's user (README, "What the PBX needs"): it reads the events
#: it tracks and writes only ``call`` (the ``Status`` listing after a reconnect) and ``user``
#: (the ``UserEvent`` reports of each prompt played). Callbacks go through ARI: no
#: ``originate``; and never ``command``, ``system`` or ``config``.
AMI_READ_CLASSES = frozenset({"call", "agent", "user", "dtmf", "reporting"})
AMI_WRITE_CLASSES = frozenset({"call", "user"})

#: PBX clock minus this host's: the agent times prompts on the PBX's clock (pbx/clock.py),
#: but the callback dialler and the dashboard read this host's clock against call times the
#: PBX stamped, so a skew moves callbacks and live ages by as much.
SKEW_OK_SECONDS = 1.0
SKEW_FAIL_SECONDS = 60.0

_RELOAD_AMI = "then: asterisk -rx 'manager reload'"
_PRIV = re.compile(r"\(Priv: ([^)]*)\)\s*$")
_CONTEXT = re.compile(r"^\s*\[([^\]\s]+)\]", re.M)
_STASIS = re.compile(r"\bStasis\(\s*([^,)\s]+)")


class Status(enum.StrEnum):
    """Outcome of one check."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Check:
    """One line of the report: ``name``, ``status``, what was found and, unless OK, the fix."""

    name: str
    status: Status
    found: str
    fix: str = ""


def skipped(name: str, reason: str) -> Check:
    """A check that could not run (``reason`` names the check that failed first)."""
    return Check(name, Status.SKIP, f"not checked: {reason}")


def _classes(text: str) -> frozenset[str]:
    return frozenset(c.strip().lower() for c in text.split(",") if c.strip()) - {"<none>"}


def _join(names: Iterable[str]) -> str:
    return ",".join(sorted(names))


def _few(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# --- AMI ------------------------------------------------------------------------------------


def ami_login(user: str, address: str, error: str | None) -> Check:
    """Whether the agent's AMI user logged in (``error``: why not)."""
    if error is None:
        return Check("ami login", Status.OK, f"{user}@{address}")
    if "refused or failed" in error or "Authentication" in error:
        fix = (
            "check the user and secret of IVR_AGENT_AMI_URL against manager.conf "
            "(and its permit/deny lines for this host)"
        )
    else:
        fix = (
            "check the host and port of IVR_AGENT_AMI_URL; manager.conf [general] needs "
            "enabled = yes and a bindaddr this host reaches"
        )
    return Check("ami login", Status.FAIL, f"{user}@{address}: {error}", fix)


@dataclass(frozen=True)
class WriteClasses:
    """What an AMI ``ListCommands`` reply tells of the user's write classes.

    Asterisk lists each action whose classes (``Priv:``) share one with the user's write
    classes: an action of a single class is listed exactly when the user has that class
    (``granted``); a listed action of several classes, none of them granted, proves the
    user has at least one of them (``one_of``).
    """

    granted: frozenset[str]
    one_of: tuple[frozenset[str], ...]

    @classmethod
    def from_listing(cls, listing: Mapping[str, str]) -> WriteClasses:
        """From the reply's ``Action: synopsis (Priv: a,b,all)`` lines."""
        privileges = []
        for line in listing.values():
            match = _PRIV.search(line)
            if match:
                classes = _classes(match.group(1)) - {"all"}
                if classes:
                    privileges.append(classes)
        granted = frozenset(next(iter(p)) for p in privileges if len(p) == 1)
        unexplained = {p for p in privileges if not p & granted}
        return cls(granted, tuple(sorted(unexplained, key=_join)))


def ami_write_classes(user: str, listing: Mapping[str, str], configured: str | None) -> Check:
    """The user's write classes, from what ``ListCommands`` lists (live, as loaded);
    ``configured`` is its ``write =`` in manager.conf (on disk), shown when it differs."""
    name = "ami write classes"
    classes = WriteClasses.from_listing(listing)
    missing = AMI_WRITE_CLASSES - classes.granted
    extra = classes.granted - AMI_WRITE_CLASSES
    problems = []
    if missing:
        problems.append(f"lacks {_join(missing)}")
    if extra:
        problems.append(f"has {_join(extra)}, which it must not")
    if classes.one_of:
        problems.append(
            "has "
            + " and ".join(f"one of {_join(group)}" for group in classes.one_of)
            + ", which it must not"
        )
    on_disk = ""
    if configured is not None and _classes(configured) != classes.granted:
        on_disk = f" (manager.conf now says write = {configured}: not reloaded?)"
    if not problems:
        return Check(name, Status.OK, f"write = {_join(classes.granted)}{on_disk}")
    return Check(
        name,
        Status.FAIL,
        f"{user} " + "; ".join(problems) + on_disk,
        f"in manager.conf under [{user}]: write = {_join(AMI_WRITE_CLASSES)}; {_RELOAD_AMI}",
    )


def ami_read_classes(user: str, configured: str | None, user_events_arrive: bool) -> Check:
    """The user's read classes as manager.conf gives them (``configured``; None when the
    PBX would not say), and whether the doctor's own UserEvent came back (read ``user``)."""
    name = "ami read classes"
    fix = f"in manager.conf under [{user}]: read = {_join(AMI_READ_CLASSES)}; {_RELOAD_AMI}"
    if configured is None or not configured.strip():
        if user_events_arrive:
            return Check(
                name,
                Status.WARN,
                "cannot read manager.conf through AST_CONFIG (func_config); "
                "user events arrive (read class user)",
                f"check by hand: read = {_join(AMI_READ_CLASSES)} under [{user}]",
            )
        return Check(
            name,
            Status.FAIL,
            "cannot read manager.conf through AST_CONFIG, and the doctor's UserEvent "
            "never arrived (no read class user?)",
            fix,
        )
    classes = _classes(configured)
    if "all" in classes:
        return Check(
            name, Status.WARN, f"read = {configured}: every class, more than it needs", fix
        )
    missing = AMI_READ_CLASSES - classes
    extra = classes - AMI_READ_CLASSES
    if missing:
        return Check(
            name,
            Status.FAIL,
            f"read = {_join(classes)}: lacks {_join(missing)} (their events never reach "
            "the agent)" + (f"; {_join(extra)} not needed" if extra else ""),
            fix,
        )
    if extra:
        return Check(name, Status.WARN, f"read = {_join(classes)}: {_join(extra)} not needed", fix)
    return Check(name, Status.OK, f"read = {_join(classes)}")


def ami_timestamps(echo: Mapping[str, str] | None, configured: str | None) -> Check:
    """``timestampevents``: from the doctor's own UserEvent as it arrived (``echo``), else
    from manager.conf's ``[general]`` (``configured``)."""
    name = "ami timestamps"
    fix = f"in manager.conf [general]: timestampevents = yes; {_RELOAD_AMI}"
    if echo is not None:
        if "Timestamp" in echo:
            return Check(name, Status.OK, "events carry Timestamp (timestampevents = yes)")
        return Check(
            name,
            Status.FAIL,
            "events carry no Timestamp: every call time would come from this host's clock "
            "at arrival",
            fix,
        )
    if configured is not None and configured.strip():
        on = configured.strip().lower() in {"yes", "true", "on", "1", "y", "t"}
        if on:
            return Check(name, Status.OK, "timestampevents = yes in manager.conf (no event seen)")
        return Check(name, Status.FAIL, f"timestampevents = {configured} in manager.conf", fix)
    return skipped(name, "no event arrived and manager.conf is not readable")


def ami_event_filter(
    user: str,
    unconsumed: Mapping[str, int],
    *,
    canary_sent: bool,
    user_events_arrive: bool,
    read_configured: str | None,
) -> Check:
    """Whether only the events the agent consumes reach it.

    ``unconsumed``: events the agent does not consume that reached the doctor's session,
    by name; ``canary_sent``: the doctor made (and removed) an empty bridge through ARI,
    whose ``BridgeCreate`` (class ``call``) a filter drops; ``read_configured``: the user's
    ``read =`` (None: unknown), which must hold ``call`` for a missing BridgeCreate to
    prove a filter.
    """
    name = "ami event filter"
    fix = (
        f"paste the output of `ivr-agent ami-filters` under [{user}] in manager.conf; "
        + _RELOAD_AMI
    )
    if unconsumed:
        names = sorted(unconsumed, key=lambda n: (-unconsumed[n], n))
        return Check(
            name,
            Status.FAIL,
            f"no filter: {sum(unconsumed.values())} event(s) the agent does not consume "
            f"reached it ({_few(names)})",
            fix,
        )
    if not user_events_arrive:
        return Check(
            name,
            Status.FAIL,
            "the doctor's UserEvent did not arrive: the filter (or the read classes) drop "
            "UserEvent, which the agent consumes",
            fix,
        )
    if not canary_sent:
        return skipped(name, "needs ARI (to cause an event the filter should drop)")
    if read_configured is not None and not _classes(read_configured) & {"call", "all"}:
        return skipped(name, "without read class call the test event could not arrive anyway")
    return Check(
        name,
        Status.OK,
        "only consumed events arrive (a BridgeCreate the doctor caused was filtered out)",
    )


# --- ARI ------------------------------------------------------------------------------------


def ari_login(
    user: str,
    address: str,
    *,
    error: str | None,
    status: int | None,
    version: str | None,
    write_error: str | None = None,
    write_status: int | None = None,
) -> Check:
    """ARI answered ``GET /asterisk/info`` (``error``/``status`` when not) and let the user
    create a bridge (``write_error``/``write_status`` when not)."""
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
            f"the PBX's hooks hand calls to Stasis({_join(hook_apps)}), the agent is {app}",
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
        return Check(name, Status.FAIL, f"missing on the PBX: {_few(missing)} (from {source})", fix)
    if unknown:
        return Check(
            name,
            Status.WARN,
            f"cannot tell whether {_few(unknown)} exist: DIALPLAN_EXISTS() answered nothing "
            "(func_dialplan not loaded?)",
            "load func_dialplan.so, or check `dialplan show` by hand",
        )
    if not exists:
        return Check(name, Status.FAIL, f"no [context] in {source}")
    return Check(name, Status.OK, f"{', '.join(exists)} present")


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


# --- prompts --------------------------------------------------------------------------------


def prompt_files(prompts_dir: str, expected: int, missing: Sequence[str]) -> Check:
    """The catalogue's files (``expected`` of them) in the agent's prompts directory."""
    name = "prompt files"
    if missing:
        return Check(
            name,
            Status.FAIL,
            f"{len(missing)} of {expected} missing in {prompts_dir} ({_few(missing, 3)})",
            "ivr-agent prompts build",
        )
    return Check(name, Status.OK, f"{expected} files in {prompts_dir}")


class Visibility(enum.StrEnum):
    """Whether the PBX read the probe file the doctor put in the prompts directory."""

    SEEN = "seen"
    UNSEEN = "unseen"
    UNWRITABLE = "unwritable"
    UNKNOWN = "unknown"


def prompts_on_pbx(
    prompts_dir: str, pbx_dir: str, media_prefix: str, seen: Visibility, detail: str = ""
) -> Check:
    """Whether the PBX finds the agent's prompt files where it plays them from.

    The doctor writes a small file into ``prompts_dir`` and asks the PBX to read it back
    from ``pbx_dir`` (its ``ASTDATADIR/sounds/PREFIX``): only then does
    ``sound:PREFIX/…`` play what the agent renders, including at call time.
    """
    name = "prompts on the pbx"
    if seen is Visibility.SEEN:
        return Check(
            name, Status.OK, f"the PBX reads {prompts_dir} as {pbx_dir} (sound:{media_prefix}/…)"
        )
    if seen is Visibility.UNWRITABLE:
        return Check(
            name,
            Status.FAIL,
            f"cannot write into {prompts_dir} ({detail}); the agent renders prompts there "
            "at call time",
            "make IVR_AGENT_PROMPTS_DIR writable for the agent's user",
        )
    if seen is Visibility.UNKNOWN:
        return Check(
            name,
            Status.WARN,
            f"cannot tell: the PBX would not read files through AST_CONFIG ({detail})",
            f"check by hand that {pbx_dir} on the PBX is {prompts_dir} on this host",
        )
    return Check(
        name,
        Status.FAIL,
        f"a file written to {prompts_dir} is not in {pbx_dir} on the PBX: every prompt "
        "would be silent",
        "IVR_AGENT_PROMPTS_DELIVERY=http (no shared directory), or IVR_AGENT_PROMPTS_DIR "
        f"the directory the PBX has as {pbx_dir}, or IVR_AGENT_PROMPTS_MEDIA_PREFIX where "
        "PROMPTS_DIR appears under its sounds",
    )


class Reach(enum.StrEnum):
    """Whether the PBX fetched ``PROMPTS_URL/healthz`` (http delivery), and from whom."""

    AGENT = "agent"  # the running agent answered the PBX
    STAND_IN = "stand-in"  # no agent ran: the doctor listened where it would, and was reached
    NONE = "none"
    UNKNOWN = "unknown"


def prompts_over_http(base: str, reach: Reach, media_cache: str | None, detail: str = "") -> Check:
    """http delivery: the PBX plays ``sound:BASE/prompts/…``, so it must reach ``base``
    (``reach``) and have ``res_http_media_cache.so`` (``media_cache``: IFMODULE's "1"/"0")."""
    name = "prompts on the pbx"
    if (media_cache or "").strip() == "0":
        return Check(
            name,
            Status.FAIL,
            "res_http_media_cache.so is not loaded: the PBX cannot play sound:http://…",
            "asterisk -rx 'module load res_http_media_cache.so' (and no noload for it in "
            "modules.conf), or IVR_AGENT_PROMPTS_DELIVERY=directory",
        )
    if reach is Reach.AGENT:
        return Check(name, Status.OK, f"the PBX reaches the agent at {base} (http delivery)")
    if reach is Reach.STAND_IN:
        return Check(
            name,
            Status.OK,
            f"the PBX reaches {base} (http delivery; no agent runs: the doctor listened "
            "in its place)",
        )
    if reach is Reach.UNKNOWN:
        return Check(
            name,
            Status.WARN,
            f"cannot tell whether the PBX reaches {base}: {detail}",
            f"check by hand from the PBX: curl {base}/healthz",
        )
    return Check(
        name,
        Status.FAIL,
        f"the PBX gets no answer from {base}/healthz{': ' + detail if detail else ''}: "
        "every prompt would be silent",
        "set IVR_AGENT_PROMPTS_URL to this host's address as the PBX reaches it (and let "
        "the PBX through a firewall to that port), or IVR_AGENT_PROMPTS_DELIVERY=directory",
    )


# --- clock, database, recordings ------------------------------------------------------------


def clock_skew(skew: float | None, how: str) -> Check:
    """PBX clock minus this host's clock (seconds; None: not measured), measured ``how``."""
    name = "clock skew"
    fix = "synchronise both clocks (NTP: chrony or systemd-timesyncd on each host)"
    if skew is None:
        return skipped(name, how)
    found = f"PBX {skew:+.3f} s from this host ({how})"
    if abs(skew) < SKEW_OK_SECONDS:
        return Check(name, Status.OK, found)
    if abs(skew) < SKEW_FAIL_SECONDS:
        return Check(name, Status.WARN, found + ": callbacks and live ages shift by as much", fix)
    return Check(name, Status.FAIL, found + ": callbacks and live ages shift by as much", fix)


def database(
    where: str,
    *,
    error: str | None,
    current: str | None = None,
    head: str | None = None,
    pending: int | None = None,
    auto_migrate: bool = True,
) -> Check:
    """The database answered (``error`` when not) and its schema revision (``current``)
    against the newest (``head``); ``pending``: migrations between them, None when
    ``current`` is no revision this agent knows."""
    name = "database"
    if error is not None:
        return Check(
            name,
            Status.FAIL,
            f"{where}: {error}",
            "check IVR_AGENT_DATABASE_URL and that PostgreSQL runs and lets this host in",
        )
    if current == head:
        return Check(name, Status.OK, f"{where} at the newest revision {head}")
    if pending is None:
        return Check(
            name,
            Status.FAIL,
            f"{where} at revision {current}, which this ivr-agent does not know (a newer "
            "one migrated it)",
            "upgrade ivr-agent to the version that migrated it",
        )
    at = f"revision {current}" if current else "no schema yet"
    found = f"{where}: {at}, {pending} migration(s) behind {head}"
    if auto_migrate:
        return Check(
            name,
            Status.WARN,
            found + " (`ivr-agent run` migrates on start)",
            "ivr-agent migrate",
        )
    return Check(
        name, Status.FAIL, found + " and IVR_AGENT_AUTO_MIGRATE=false", "ivr-agent migrate"
    )


def recordings(count: int | None, error: str | None) -> Check:
    """ARI's stored recordings listing (``count`` entries; ``error`` when it failed)."""
    name = "recordings"
    if error is not None:
        return Check(
            name,
            Status.FAIL,
            f"GET /recordings/stored failed: {error}",
            "check that res_ari_recordings.so is loaded and the PBX's recording spool "
            "(astspooldir/recording) exists and is readable by Asterisk",
        )
    return Check(name, Status.OK, f"ARI lists {count} stored recording(s)")


# --- notifications --------------------------------------------------------------------------


def departments_file(source: str, departments: int | None, error: str | None) -> Check:
    """The departments file (``IVR_AGENT_DEPARTMENTS_FILE``) as the agent would load it:
    ``departments`` read from it, or the ``error`` naming each fault and its line."""
    name = "departments file"
    if error is not None:
        return Check(
            name,
            Status.FAIL,
            error,
            "fix the named line(s) of the file (README: Notifications); `ivr-agent run` "
            "refuses to start with it",
        )
    return Check(name, Status.OK, f"{departments} department(s) in {source}")


def smtp_server(address: str, tls: str, login: str | None, error: str | None) -> Check:
    """Whether the SMTP server answered at ``address`` with the ``tls`` mode and accepted
    the ``login`` (None: none); ``error``: what failed."""
    name = "smtp server"
    how = f"{address} ({tls}" + (f", login {login})" if login else ", no login)")
    if error is None:
        return Check(name, Status.OK, f"{how} answers")
    if "535" in error or "authentication" in error.lower():
        fix = "check IVR_AGENT_SMTP_USERNAME and IVR_AGENT_SMTP_PASSWORD"
    elif "STARTTLS" in error or "certificate" in error.lower() or "SSL" in error:
        fix = (
            "check IVR_AGENT_SMTP_TLS against the server: starttls (port 587), tls (port "
            "465), none (a relay without TLS, port 25); its certificate must be trusted here"
        )
    else:
        fix = (
            "check IVR_AGENT_SMTP_HOST and IVR_AGENT_SMTP_PORT and that this host may reach "
            "the server (firewall)"
        )
    return Check(name, Status.FAIL, f"{how}: {error}", fix)

"""Verdicts on the agent's AMI user: login, read and write classes, timestamps, event filter."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ivr_agent.doctor.checks.verdict import Check, Status, class_names, first_few, joined, skipped

#: The AMI classes of the agent's user (README, "What the PBX needs"): it reads the events
#: it tracks and writes only ``call`` (the ``Status`` listing after a reconnect) and ``user``
#: (the ``UserEvent`` reports of each prompt played). Callbacks go through ARI: no
#: ``originate``; and never ``command``, ``system`` or ``config``.
AMI_READ_CLASSES = frozenset({"call", "agent", "user", "dtmf", "reporting"})
AMI_WRITE_CLASSES = frozenset({"call", "user"})

_RELOAD_AMI = "then: asterisk -rx 'manager reload'"
_PRIV = re.compile(r"\(Priv: ([^)]*)\)\s*$")


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
                classes = class_names(match.group(1)) - {"all"}
                if classes:
                    privileges.append(classes)
        granted = frozenset(next(iter(p)) for p in privileges if len(p) == 1)
        unexplained = {p for p in privileges if not p & granted}
        return cls(granted, tuple(sorted(unexplained, key=joined)))


def ami_write_classes(user: str, listing: Mapping[str, str], configured: str | None) -> Check:
    """The user's write classes, from what ``ListCommands`` lists (live, as loaded);
    ``configured`` is its ``write =`` in manager.conf (on disk), shown when it differs."""
    name = "ami write classes"
    classes = WriteClasses.from_listing(listing)
    missing = AMI_WRITE_CLASSES - classes.granted
    extra = classes.granted - AMI_WRITE_CLASSES
    problems = []
    if missing:
        problems.append(f"lacks {joined(missing)}")
    if extra:
        problems.append(f"has {joined(extra)}, which it must not")
    if classes.one_of:
        problems.append(
            "has "
            + " and ".join(f"one of {joined(group)}" for group in classes.one_of)
            + ", which it must not"
        )
    on_disk = ""
    if configured is not None and class_names(configured) != classes.granted:
        on_disk = f" (manager.conf now says write = {configured}: not reloaded?)"
    if not problems:
        return Check(name, Status.OK, f"write = {joined(classes.granted)}{on_disk}")
    return Check(
        name,
        Status.FAIL,
        f"{user} " + "; ".join(problems) + on_disk,
        f"in manager.conf under [{user}]: write = {joined(AMI_WRITE_CLASSES)}; {_RELOAD_AMI}",
    )


def ami_read_classes(user: str, configured: str | None, user_events_arrive: bool) -> Check:
    """The user's read classes as manager.conf gives them (``configured``; None when the
    PBX would not say), and whether the doctor's own UserEvent came back (read ``user``)."""
    name = "ami read classes"
    fix = f"in manager.conf under [{user}]: read = {joined(AMI_READ_CLASSES)}; {_RELOAD_AMI}"
    if configured is None or not configured.strip():
        if user_events_arrive:
            return Check(
                name,
                Status.WARN,
                "cannot read manager.conf through AST_CONFIG (func_config); "
                "user events arrive (read class user)",
                f"check by hand: read = {joined(AMI_READ_CLASSES)} under [{user}]",
            )
        return Check(
            name,
            Status.FAIL,
            "cannot read manager.conf through AST_CONFIG, and the doctor's UserEvent "
            "never arrived (no read class user?)",
            fix,
        )
    classes = class_names(configured)
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
            f"read = {joined(classes)}: lacks {joined(missing)} (their events never reach "
            "the agent)" + (f"; {joined(extra)} not needed" if extra else ""),
            fix,
        )
    if extra:
        return Check(
            name, Status.WARN, f"read = {joined(classes)}: {joined(extra)} not needed", fix
        )
    return Check(name, Status.OK, f"read = {joined(classes)}")


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
            f"reached it ({first_few(names)})",
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
    if read_configured is not None and not class_names(read_configured) & {"call", "all"}:
        return skipped(name, "without read class call the test event could not arrive anyway")
    return Check(
        name,
        Status.OK,
        "only consumed events arrive (a BridgeCreate the doctor caused was filtered out)",
    )

"""The QA replay timeline: a stored call turned into markers on the recording's time axis.

Pure. Offsets are seconds from the recording's start (``origin``; without a recording, the
call's offer), so a marker's ``start`` is where the player seeks when it is clicked. Events
before the recording started (ringing, the greeting) get negative offsets and are drawn at
the left edge. Kinds: ``offered``, ``ringing`` (first ring → answer), ``answer``,
``prompt`` (started → finished, from the IVR's reports), ``hold``, ``talk`` (the caller's
speech by talk detection), ``silence`` (answered, caller quiet for ``SILENCE_MIN_SECONDS``
or more), ``pause`` (recording paused for card numbers), ``hangup``.

Each marker's label is English (the API's) unless :func:`qa_markers` is given the page's
translations (``texts``); its texts are in the page catalogues (``web/locale``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from gettext import NullTranslations
from typing import Any, Protocol

#: A quiet stretch of the caller this long or longer is drawn as ``silence``.
SILENCE_MIN_SECONDS = 5.0


class Texts(Protocol):
    """Translations of the labels (a page's locale; by default English, unchanged)."""

    def gettext(self, message: str, /) -> str: ...
    def ngettext(self, singular: str, plural: str, n: int, /) -> str: ...


ENGLISH: Texts = NullTranslations()


@dataclass(frozen=True)
class Marker:
    """One thing on the replay timeline; ``end`` is None for an instant."""

    kind: str
    label: str
    start: float
    end: float | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (offsets rounded to the millisecond)."""
        return {
            "kind": self.kind,
            "label": self.label,
            "start": round(self.start, 3),
            "end": None if self.end is None else round(self.end, 3),
        }


def _at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _prompt_intervals(
    timeline: Sequence[Mapping[str, Any]],
) -> list[tuple[str, datetime, datetime | None, bool]]:
    open_: dict[str, datetime] = {}
    found: list[tuple[str, datetime, datetime | None, bool]] = []
    for event in timeline:
        if event.get("kind") != "UserEvent":
            continue
        details = event.get("details") or {}
        prompt, phase = details.get("prompt"), details.get("phase")
        if not isinstance(prompt, str):
            continue
        at = datetime.fromisoformat(event["at"])
        if phase == "started":
            open_[prompt] = at
        elif phase == "finished":
            start = open_.pop(prompt, None)
            played = bool(details.get("played", True))
            found.append((prompt, start or at, at if start else None, played))
    found.extend((p, start, None, True) for p, start in open_.items())
    return sorted(found, key=lambda f: f[1])


def _talk_intervals(timeline: Sequence[Mapping[str, Any]]) -> list[tuple[datetime, datetime]]:
    talks = []
    started: datetime | None = None
    for event in timeline:
        kind = event.get("kind")
        at = datetime.fromisoformat(event["at"])
        if kind == "ChannelTalkingStart":
            started = at
        elif kind == "ChannelTalkingStop" and started is not None:
            duration = (event.get("details") or {}).get("duration_ms")
            # Talk detection reports the stop seconds late; the talk lasted duration_ms.
            end = started + timedelta(milliseconds=duration) if duration else at
            talks.append((started, min(end, at)))
            started = None
    return talks


def qa_markers(
    call: Mapping[str, Any],
    timeline: Sequence[Mapping[str, Any]],
    origin: datetime | None,
    pauses: Iterable[tuple[datetime, str]] = (),
    texts: Texts = ENGLISH,
) -> list[Marker]:
    """The markers of ``call`` (``CallOutcome.to_json()``) and its stored ``timeline``.

    ``origin``: when the recording started (None: the call's offer). ``pauses``: (time,
    ``pause``|``resume``) of the recording, in order. Labels in ``texts``' language.
    """
    gettext, ngettext = texts.gettext, texts.ngettext
    offered = datetime.fromisoformat(call["offered_at"])
    zero = origin or offered
    ended = datetime.fromisoformat(call["ended_at"])

    def off(moment: datetime) -> float:
        return (moment - zero).total_seconds()

    markers = [Marker("offered", gettext("offered"), off(offered))]
    ring_start, answered = _at(call.get("wait_started_at")), _at(call.get("answered_at"))
    if ring_start is not None:
        rings = call.get("rings")
        label = (
            ngettext("ringing (%(rings)d ring)", "ringing (%(rings)d rings)", rings)
            % {"rings": rings}
            if rings is not None
            else gettext("ringing")
        )
        markers.append(Marker("ringing", label, off(ring_start), off(answered or ended)))
    if answered is not None:
        who = call.get("operator_id")
        label = gettext("answer by %(operator)s") % {"operator": who} if who else gettext("answer")
        markers.append(Marker("answer", label, off(answered)))
    for prompt, start, end, played in _prompt_intervals(timeline):
        label = prompt if played else gettext("%(prompt)s (not played)") % {"prompt": prompt}
        markers.append(Marker("prompt", label, off(start), None if end is None else off(end)))
    for index, hold in enumerate(call.get("holds") or (), start=1):
        start = datetime.fromisoformat(hold["started_at"])
        end = _at(hold.get("ended_at")) or ended
        markers.append(
            Marker(
                "hold",
                gettext("hold %(index)d (%(seconds).1f s)")
                % {"index": index, "seconds": (end - start).total_seconds()},
                off(start),
                off(end),
            )
        )
    talks = _talk_intervals(timeline)
    for start, end in talks:
        markers.append(Marker("talk", gettext("caller talks"), off(start), off(end)))
    if answered is not None:
        quiet_from = answered
        for start, end in [*talks, (ended, ended)]:
            if start > quiet_from and (start - quiet_from).total_seconds() >= SILENCE_MIN_SECONDS:
                markers.append(
                    Marker("silence", gettext("caller silent"), off(quiet_from), off(start))
                )
            quiet_from = max(quiet_from, end)
    paused_at: datetime | None = None
    for moment, action in pauses:
        if action == "pause" and paused_at is None:
            paused_at = moment
        elif action == "resume" and paused_at is not None:
            markers.append(
                Marker("pause", gettext("recording paused"), off(paused_at), off(moment))
            )
            paused_at = None
    if paused_at is not None:
        markers.append(Marker("pause", gettext("recording paused"), off(paused_at), off(ended)))
    markers.append(Marker("hangup", gettext("hang-up"), off(ended)))
    return sorted(markers, key=lambda m: (m.start, m.kind))

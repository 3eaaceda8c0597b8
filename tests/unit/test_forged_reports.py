"""Forged reports (issue 14, finding 10): an AMI client with the ``user`` write class can send
``UserEvent: IvrAgentSurvey`` / ``IvrAgentPrompt`` with any headers. The satisfaction answer
counts only when the dialplan raised it on a channel; the agent's own reports are sealed, and
the AMI edge's check (:class:`ReportSeal`) refuses unsealed, altered or resent ones.
"""

from __future__ import annotations

from typing import Any

import pytest

from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.events import MalformedEvent, parse_ami, sent_from_a_channel
from ivr_agent.core.tracker import Tracker
from ivr_agent.pbx.session import ReportSeal

from .ami_table import BASE_US, table
from .test_core_satisfaction import ASKED, operator_hangs_up_first


def _stamp(seconds: float) -> str:
    at_us = BASE_US + round(seconds * 1_000_000)
    return f"{at_us // 1_000_000}.{at_us % 1_000_000:06d}"


def forged(seconds: float, user_event: str, linkedid: str, **headers: str) -> dict[str, str]:
    """What Asterisk broadcasts for ``Action: UserEvent`` from another AMI client: its own
    header order (``UserEvent`` first), then whatever the client sent — here even a copy of
    the real caller's channel snapshot."""
    return {
        "Event": "UserEvent",
        "Privilege": "user,all",
        "Timestamp": _stamp(seconds),
        "UserEvent": user_event,
        **headers,
        "Channel": "PJSIP/pbx-00000001",
        "Uniqueid": linkedid,
        "Linkedid": linkedid,
    }


def outcome(rows: list[dict[str, str]]) -> tuple[dict[str, Any], int]:
    """The one outcome, and how many events were refused as malformed."""
    tracker = Tracker(StandardsConfig(), "pbx1")
    outcomes, refused = [], 0
    for fields in rows:
        try:
            event = parse_ami(fields)
        except MalformedEvent:
            refused += 1
            continue
        if event is not None:
            outcomes.extend(tracker.feed(event).outcomes)
    assert len(outcomes) == 1
    return outcomes[0].extra, refused


def _insert_before_hangup(
    rows: list[dict[str, str]], extra: list[dict[str, str]]
) -> list[dict[str, str]]:
    return [*rows[:-1], *extra, rows[-1]]


LINKEDID = table("0.0 Newchannel caller")[0]["Linkedid"]


def test_given_a_forged_survey_digit_for_a_call_never_asked_then_not_satisfied() -> None:
    rows = _insert_before_hangup(
        operator_hangs_up_first(""),
        [forged(26.0, "IvrAgentSurvey", LINKEDID, Digit="1")],
    )
    extra, refused = outcome(rows)
    assert refused == 1
    assert "satisfaction" not in extra


def test_given_the_question_and_the_digit_both_forged_then_not_satisfied() -> None:
    prompt = {"Prompt": "satisfaction", "Played": "yes", "To": "caller"}
    rows = _insert_before_hangup(
        operator_hangs_up_first(""),
        [
            forged(20.1, "IvrAgentPrompt", LINKEDID, Phase="started", **prompt),
            forged(25.9, "IvrAgentPrompt", LINKEDID, Phase="finished", **prompt),
            forged(26.0, "IvrAgentSurvey", LINKEDID, Digit="1"),
        ],
    )
    extra, _ = outcome(rows)
    # The core cannot tell the agent's own (action-sent) prompt reports from these: the AMI
    # edge's ReportSeal refuses them (below). The forged key is refused by the core itself.
    assert extra.get("satisfaction") != "satisfied"


def test_given_a_real_answer_then_a_forged_one_the_real_answer_stays() -> None:
    real = "26.400 UserEvent caller UserEvent=IvrAgentSurvey Digit=2"
    rows = _insert_before_hangup(
        operator_hangs_up_first(ASKED + real),
        [forged(27.0, "IvrAgentSurvey", LINKEDID, Digit="1")],
    )
    extra, refused = outcome(rows)
    assert (extra["satisfaction"], refused) == ("suggestion", 1)


def test_a_channel_raised_survey_is_accepted_and_an_action_sent_one_is_not() -> None:
    (real,) = table("1.0 UserEvent caller UserEvent=IvrAgentSurvey Digit=1")
    assert sent_from_a_channel(real)
    assert not sent_from_a_channel(forged(1.0, "IvrAgentSurvey", LINKEDID, Digit="1"))
    # A header repeated by the dialplan's own arguments reaches us joined to the snapshot's.
    assert not sent_from_a_channel(real | {"Linkedid": f"{LINKEDID}\n1700000999.1"})
    assert not sent_from_a_channel({"Event": "UserEvent", "UserEvent": "IvrAgentSurvey"})


# --- the AMI edge: ReportSeal ---------------------------------------------------------------


def as_broadcast(action: dict[str, str], seconds: float = 1.0) -> dict[str, str]:
    """The event Asterisk broadcasts for the agent's own ``Action: UserEvent``."""
    headers = {k: v for k, v in action.items() if k not in ("Action", "UserEvent")}
    return {
        "Event": "UserEvent",
        "Privilege": "user,all",
        "Timestamp": _stamp(seconds),
        "UserEvent": action["UserEvent"],
        **headers,
        "ActionID": "action/x/1/1",
    }


REPORT = {"Prompt": "hold_reminder", "Phase": "started", "Played": "yes", "Linkedid": LINKEDID}


def own_report(seal: ReportSeal, **changes: str) -> dict[str, str]:
    sealed = seal.seal(REPORT | {"To": "caller"})
    return as_broadcast({"Action": "UserEvent", "UserEvent": "IvrAgentPrompt", **sealed} | changes)


def test_the_agents_own_sealed_report_is_genuine_once() -> None:
    seal = ReportSeal()
    report = own_report(seal)
    assert seal.genuine(report)
    assert not seal.genuine(report)  # resent by someone who saw it: the nonce is used


@pytest.mark.parametrize(
    "forgery",
    [
        {},  # no seal at all
        {"Phase": "finished"},  # a sealed field changed
        {"Linkedid": "1700000002.1"},  # moved to another call
        {"Seal": "0" * 64},
    ],
    ids=["unsealed", "phase-changed", "other-call", "made-up-seal"],
)
def test_a_forged_or_altered_report_is_refused(forgery: dict[str, str]) -> None:
    seal = ReportSeal()
    if forgery:
        report = own_report(seal, **forgery)
    else:
        action = {"Action": "UserEvent", "UserEvent": "IvrAgentPrompt", **REPORT, "To": "caller"}
        report = as_broadcast(action)
    assert not seal.genuine(report)


def test_another_process_seal_is_refused() -> None:
    assert not ReportSeal().genuine(own_report(ReportSeal()))


def test_the_hooks_reports_and_other_events_pass_the_edge() -> None:
    seal = ReportSeal()
    (hook_prompt,) = table(
        "1.0 UserEvent caller UserEvent=IvrAgentPrompt Prompt=greeting_external Phase=started"
    )
    (hook_survey,) = table("2.0 UserEvent caller UserEvent=IvrAgentSurvey Digit=1")
    (hangup,) = table("3.0 Hangup caller Cause=16")
    other_app = forged(4.0, "SomeoneElsesEvent", LINKEDID)
    assert all(seal.genuine(e) for e in (hook_prompt, hook_survey, hangup, other_app))
    assert not seal.genuine(forged(5.0, "IvrAgentSurvey", LINKEDID, Digit="1"))


def test_the_seal_key_is_never_shown() -> None:
    shown = repr(ReportSeal(b"k" * 32))
    assert "secret" in shown
    assert "kkkk" not in shown


def test_the_ingest_drops_forged_reports_before_the_tracker_and_the_capture() -> None:
    # The AMI edge as the agent wires it (app.py): Ingest(trust=seal.genuine).
    from ivr_agent.calls.ingest import Ingest

    seal = ReportSeal()
    finished: list[Any] = []
    ingest = Ingest(Tracker(StandardsConfig(), "pbx1"), finished.append, trust=seal.genuine)
    report = {"Linkedid": "1700000001.1", "Prompt": "operator_intro", "Phase": "started"}
    genuine = forged(1.0, "IvrAgentPrompt", "1700000001.1", **seal.seal(report))
    ingest.on_ami_event(forged(1.0, "IvrAgentPrompt", "1700000001.1", **report), 0.0)
    ingest.on_ami_event(genuine, 0.0)
    ingest.on_ami_event(genuine, 0.0)  # the same sealed report sent again
    assert ingest.stats.forged_reports == 2
    assert ingest.tracker.stats.events == 1

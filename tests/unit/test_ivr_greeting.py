"""The greeting and survey Stasis handlers: which greeting a caller gets (the hook's argument
first, else the caller number's shape), and that ARI trouble never raises out of them."""

from __future__ import annotations

import re

import pytest

from ivr_agent.pbx.stasis import StasisCall
from ivr_agent.prompts.greeting import GREETINGS, caller_kind, greet
from ivr_agent.prompts.stasis_prompt import linkedid_arg
from ivr_agent.prompts.survey import ask
from ivr_agent.settings import load_settings
from tests.support.ivr import FileCatalogue, unreachable_ivr

INTERNAL = re.compile(load_settings().internal_caller_pattern)


@pytest.mark.parametrize(
    ("hint", "number", "kind"),
    [
        ("", "13800138000", "external"),  # a mobile number from the carrier
        ("", "4008001000", "external"),
        ("", "8066", "internal"),  # an extension
        ("", "110", "internal"),
        ("", "12", "external"),  # too short for an extension: not trusted
        ("", None, "external"),
        ("internal", "13800138000", "internal"),  # the admin's route knows better
        ("EXTERNAL", "8066", "external"),
        ("colleague", "13800138000", "external"),  # unknown hint: the number decides
    ],
)
def test_caller_kind(hint: str, number: str | None, kind: str) -> None:
    assert caller_kind(hint, number, INTERNAL) == kind


def test_each_kind_has_its_catalogue_greeting() -> None:
    assert GREETINGS == {"external": "greeting_external", "internal": "greeting_internal"}


def test_the_linkedid_comes_from_the_hook_or_falls_back_to_the_channel() -> None:
    assert linkedid_arg(("greet", "", "1795459486.190"), 2, "chan") == "1795459486.190"
    assert linkedid_arg(("greet",), 2, "chan") == "chan"
    assert linkedid_arg(("survey", " "), 1, "chan") == "chan"


@pytest.mark.parametrize("route", ["greet", "survey"])
async def test_with_ari_unreachable_the_handler_reports_not_played_and_returns(
    route: str,
) -> None:
    ivr = unreachable_ivr(FileCatalogue(frozenset(GREETINGS.values()) | {"satisfaction"}))
    channel = {"id": "1795459486.190", "state": "Up", "caller": {"number": "13800138000"}}
    try:
        if route == "greet":
            await greet(ivr, StasisCall("1795459486.190", ("greet", "", ""), channel), INTERNAL)
        else:
            await ask(ivr, StasisCall("1795459486.190", ("survey", ""), channel))
    finally:
        await ivr.client.close()
    # One report (finished, Played: no), lost for want of AMI, counted; nothing raised.
    assert (ivr.report_stats.reports_sent, ivr.report_stats.reports_failed) == (0, 1)


class NotingRecorder:
    """A dialplan recorder that names every call's file and notes what the greeting said."""

    def __init__(self) -> None:
        self.noted: list[tuple[str, str]] = []

    def name_for(self, linkedid: str) -> str | None:
        return f"ivr-agent-in-{linkedid}"

    def started(self, linkedid: str, name: str, at: float) -> None:
        self.noted.append((linkedid, name))


async def test_given_no_reply_to_naming_the_recording_then_it_is_noted_all_the_same() -> None:
    # An overloaded PBX may set the variable after the request timed out, and its hook's
    # MixMonitor then writes the file: noted, it is kept or deleted after the call rather
    # than left in the PBX's spool.
    ivr = unreachable_ivr(FileCatalogue(frozenset(GREETINGS.values())))
    recorder = NotingRecorder()
    ivr.dialplan_recorder = recorder
    channel = {"id": "1795459486.190", "state": "Up", "caller": {"number": "13800138000"}}
    try:
        await greet(ivr, StasisCall("1795459486.190", ("greet", "", ""), channel), INTERNAL)
    finally:
        await ivr.client.close()
    assert recorder.noted == [("1795459486.190", "ivr-agent-in-1795459486.190")]

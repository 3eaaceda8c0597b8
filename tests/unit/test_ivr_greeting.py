"""The greeting and survey Stasis handlers: which greeting a caller gets (the hook's argument
first, else the caller number's shape), and that ARI trouble never raises out of them."""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping

import pytest

from ivr_agent.pbx.ari import AriClient, AriTarget
from ivr_agent.pbx.session import Audience, Ivr
from ivr_agent.pbx.stasis import StasisCall, StasisRouter
from ivr_agent.prompts.greeting import GREETINGS, caller_kind, greet
from ivr_agent.prompts.stasis_prompt import linkedid_arg
from ivr_agent.prompts.survey import ask
from ivr_agent.settings import load_settings

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


class Prerendered:
    """A catalogue whose every prompt is one pre-rendered file."""

    names = frozenset(GREETINGS.values()) | {"satisfaction"}

    def audience(self, name: str) -> Audience:
        return "caller"

    def media(self, name: str, variables: Mapping[str, str] = {}) -> str:
        return f"sound:ivr-agent/zh-CN/{name}"

    async def ensure_media(self, name: str, variables: Mapping[str, str]) -> str:
        return self.media(name, variables)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("route", ["greet", "survey"])
async def test_with_ari_unreachable_the_handler_reports_not_played_and_returns(
    route: str,
) -> None:
    client = AriClient(AriTarget(f"http://127.0.0.1:{closed_port()}", "u", "p"), timeout=1)
    ivr = Ivr(
        client=client,
        router=StasisRouter(client, "ivr-agent"),
        catalogue=Prerendered(),
        settings=load_settings(),
    )
    channel = {"id": "1795459486.190", "state": "Up", "caller": {"number": "13800138000"}}
    try:
        if route == "greet":
            await greet(ivr, StasisCall("1795459486.190", ("greet", "", ""), channel), INTERNAL)
        else:
            await ask(ivr, StasisCall("1795459486.190", ("survey", ""), channel))
    finally:
        await client.close()
    # One report (finished, Played: no), lost for want of AMI, counted; nothing raised.
    assert (ivr.report_stats.reports_sent, ivr.report_stats.reports_failed) == (0, 1)

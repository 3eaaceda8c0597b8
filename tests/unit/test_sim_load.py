"""The load generator's sandbox parts (issue 20): the generated load desks, the dialplan
that routes and answers them, and the calls a load step plans. Files only: no Asterisk."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from ivr_agent.core.roles import operator_id_from
from ivr_agent.sim import load_desks
from ivr_agent.sim.load_calls import (
    CallShape,
    LoadError,
    LoadStep,
    mean_seconds,
    parse_mix,
    plan_step,
)
from ivr_agent.sim.load_desks import LoadKind
from ivr_agent.sim.sandbox_layout import find_repo_dir, for_lane, lane_instances

PBX_CONF = find_repo_dir() / "docker" / "asterisk"


def sections(text: str) -> dict[str, list[str]]:
    """``[name](templates)`` → the section's lines (several sections may share a name)."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        header = re.match(r"^\[([^\]]+)\]", line)
        if header:
            current = out.setdefault(header.group(1), [])
            current.append(line)
        elif current is not None and line.strip():
            current.append(line)
    return out


def test_given_the_generated_desks_then_each_has_an_endpoint_and_a_contact_on_the_phones() -> None:
    config = sections(load_desks.pjsip_config())
    desks = [f"op{d:03d}" for d in load_desks.desk_ids()]
    assert len(desks) == 300
    for desk in desks:
        lines = config[desk]
        assert f"[{desk}](load-desk)" in lines
        assert f"contact = sip:7{desk[2:]}@127.0.0.1:5070" in lines
    # Never "busy": the template sets no device_state_busy_at, unlike the hotline's desks.
    assert not any("device_state_busy_at" in line for line in config["load-desk"])
    # The agent reads the 工号 from the channel name as from the hotline's desks.
    assert operator_id_from("PJSIP/op123-0000002a") == "123"


def test_given_another_lane_then_the_desks_contacts_move_to_its_phones_port() -> None:
    pbx, phones = lane_instances(5)
    text = for_lane(load_desks.pjsip_config(), pbx, phones)
    assert f"sip:7100@127.0.0.1:{phones.sip_port}" in text
    assert "127.0.0.1:5070" not in text


def test_given_the_pbx_config_then_it_includes_the_desks_after_their_templates() -> None:
    pjsip = (PBX_CONF / "pjsip.conf").read_text()
    include = pjsip.index(f'#tryinclude "{load_desks.PJSIP_FILE}"')
    assert pjsip.index("[endpoint-common](!)") < include
    assert pjsip.index("[aor-common](!)") < include


def test_given_the_pbx_dialplan_then_the_load_route_dials_the_desk_of_its_last_digits() -> None:
    extensions = (PBX_CONF / "extensions.conf").read_text()
    route = f"exten => _{load_desks.ROUTE_PREFIX}XXX,1,"
    assert route in extensions
    after = extensions[extensions.index(route) :].split("\n\n", 1)[0]
    assert "Gosub(ivr-agent-talk-detect,s,1)" in after
    assert "Dial(PJSIP/op${EXTEN:-3}," in after
    assert load_desks.route_number(123) == "4008007123"
    with pytest.raises(ValueError, match="desk must be 100-399"):
        load_desks.route_number(99)
    # The same desks behind the greeting hook (load.py --concurrent-route greeted).
    greeted = f"exten => _{load_desks.GREETED_ROUTE_PREFIX}XXX,1,"
    after = extensions[extensions.index(greeted) :].split("\n\n", 1)[0]
    assert "Gosub(ivr-agent-inbound,s,1)" in after
    assert "Dial(PJSIP/op${EXTEN:-3}," in after
    assert load_desks.route_number(123, greeted=True) == "4008006123"


def test_given_the_phones_dialplan_then_each_kind_has_a_desk_and_a_caller_script() -> None:
    text = (resources.files("ivr_agent.sim") / "phones" / "extensions.conf").read_text()
    config = sections(text)
    assert any("_7XXX,1,Goto(load-desk,${CALLERID(num):1:1},1)" in x for x in config["from-pbx"])
    desk = "\n".join(config["load-desk"])
    assert f"Stasis({load_desks.HOLD_APP},hold)" in desk
    for kind in LoadKind:
        # Every kind digit is matched by a desk extension (1 and 4 share one pattern).
        assert re.search(rf"exten => (_\[[0-9]*{kind.value}[0-9]*\]|{kind.value}),1,", desk)
    caller = "\n".join(config["load-caller"])
    assert "TIMEOUT(absolute)=${LOAD_TALK}" in caller
    # Talking callers say hello; the silent one only sends silence.
    assert "exten => _[12],1," in caller
    assert "ivr-sim/hello" in caller.split("exten => 4,1,")[0]
    assert "ivr-sim/hello" not in caller.split("exten => 4,1,")[1]


def test_given_a_kind_and_a_sequence_then_the_caller_number_carries_the_kind() -> None:
    number = load_desks.caller_number(LoadKind.HOLD, 42, 7)
    assert number == "12042000007"
    assert load_desks.kind_of(number) is LoadKind.HOLD
    with pytest.raises(ValueError, match="run must be 0-999"):
        load_desks.caller_number(LoadKind.HOLD, 1000, 7)


def test_given_a_step_then_its_calls_are_spaced_unique_and_drawn_from_the_mix() -> None:
    step = LoadStep("s", rate=20.0, seconds=10.0, mix=parse_mix("answered=3,hold=1"))
    calls = plan_step(step, run=7, first_sequence=500, seed=1)
    assert len(calls) == 200
    assert calls[1].at - calls[0].at == pytest.approx(0.05)
    assert len({c.number for c in calls}) == 200
    assert {c.kind for c in calls} == {LoadKind.ANSWERED, LoadKind.HOLD}
    assert all(load_desks.kind_of(c.number) is c.kind for c in calls)
    assert calls[0].desk == load_desks.desk_of(500) == 300
    assert plan_step(step, run=7, first_sequence=500, seed=1) == calls  # seeded


def test_given_a_mix_then_the_rate_for_a_concurrency_follows_from_the_mean_length() -> None:
    shape = CallShape(talk=10.0, hold_start=2.0, hold_seconds=12.0, abandon_after=4)
    assert shape.caller_seconds(LoadKind.HOLD) == 17.0  # held past the end of the talk
    mix = parse_mix("answered=1,abandoned=1")
    assert mean_seconds(mix, shape) == pytest.approx((10.3 + 4.0) / 2)


def test_given_a_greeted_route_then_callers_say_hello_after_the_greeting() -> None:
    assert CallShape(talk=20.0).caller_variables(LoadKind.ANSWERED) == {"LOAD_TALK": "20"}
    greeted = CallShape(talk=20.0, greeted=True, hello_after=6)
    assert greeted.caller_variables(LoadKind.ANSWERED) == {"LOAD_TALK": "20", "LOAD_HELLO": "6"}
    with pytest.raises(LoadError, match="hello_after must be 1-10"):
        CallShape(greeted=True, hello_after=11)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("answered=1,ringing=2", "ringing=2"),
        ("answered=x", "weight of answered must be a number"),
        ("answered=0", "add up to more than 0"),
        ("hold=-1,answered=2", "must not be negative"),
    ],
)
def test_given_a_bad_mix_then_the_error_names_it(text: str, message: str) -> None:
    with pytest.raises(LoadError, match=message):
        parse_mix(text)


def test_given_a_bad_step_then_the_error_names_the_field() -> None:
    with pytest.raises(LoadError, match="rate must be"):
        LoadStep("s", rate=0.0, seconds=1.0, mix=parse_mix("answered=1"))
    with pytest.raises(LoadError, match="talk must be more than 0"):
        CallShape(talk=0.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--load-desks", "--rate", "2"], "--load-desks needs --calls N"),
        (["--load-desks", "--calls", "3", "--mix", "answered=x"], "weight of answered"),
        (["--load-desks", "--calls", "3", "--talk", "0"], "talk must be more than 0"),
    ],
)
def test_given_bad_load_desk_arguments_then_simulate_names_them(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from ivr_agent.cli import main

    assert main(["simulate", *argv]) == 2
    assert message in capsys.readouterr().err

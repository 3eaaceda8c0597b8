"""`ivr-agent doctor`'s verdicts and report, from plain facts (no PBX).

The two ``ListCommands`` replies under tests/fixtures/doctor were recorded from the sandbox
PBX (Asterisk 22.10.1): one for the agent's user (``write = call,user``), one for a user
with ``write = all``. Misconfigurations that cannot be made per test on the shared sandbox
PBX (``timestampevents`` is global; unloading ``func_talkdetect.so`` or skewing its clock
would touch every test of the lane) are judged here from the facts the probes would see.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ivr_agent import share
from ivr_agent.doctor import Check, Status, exit_status, render
from ivr_agent.doctor import checks as c

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "doctor"
_PRIV = re.compile(r"\(Priv: ([^)]*)\)\s*$")


def _listing(name: str) -> dict[str, str]:
    listing: dict[str, str] = json.loads((FIXTURES / f"listcommands-{name}.json").read_text())
    return listing


def _privileges(line: str) -> set[str]:
    match = _PRIV.search(line)
    assert match, line
    return set(match.group(1).split(",")) - {"all", "<none>"}


def listed_for(write: set[str]) -> dict[str, str]:
    """What ListCommands lists for a user with these write classes, from the full listing:
    the actions sharing a class with them, and those needing none (as manager.c does)."""
    return {
        action: line
        for action, line in _listing("write-all").items()
        if not _privileges(line) or _privileges(line) & write
    }


# --- write classes from ListCommands --------------------------------------------------------


def test_given_the_recorded_listing_of_the_agents_user_then_its_write_classes_are_exactly_ok() -> (
    None
):
    check = c.ami_write_classes("ivr-agent", _listing("write-call-user"), "call,user")
    assert check == Check("ami write classes", Status.OK, "write = call,user")


def test_the_listing_simulated_from_the_full_one_matches_the_recorded_one() -> None:
    # Validates listed_for(), which the other cases build on.
    assert listed_for({"call", "user"}) == _listing("write-call-user")


def test_given_write_all_then_it_fails_naming_the_dangerous_classes() -> None:
    check = c.ami_write_classes("ivr-agent", _listing("write-all"), None)
    assert check.status is Status.FAIL
    for name in ("command", "config", "originate", "system"):
        assert name in check.found
    assert check.fix == (
        "in manager.conf under [ivr-agent]: write = call,user; then: asterisk -rx 'manager reload'"
    )


def test_given_a_missing_write_class_then_it_fails_naming_it() -> None:
    check = c.ami_write_classes("ivr-agent", listed_for({"call"}), None)
    assert (check.status, check.found) == (Status.FAIL, "ivr-agent lacks user")


def test_given_reporting_which_no_action_has_alone_then_it_names_the_choice() -> None:
    # Every action of `reporting` also has another class (CoreShowChannels: system,
    # reporting): listed without `system` granted, one of the two must be there.
    check = c.ami_write_classes("ivr-agent", listed_for({"call", "user", "reporting"}), None)
    assert check.status is Status.FAIL
    assert "one of reporting,system" in check.found


def test_given_manager_conf_differs_from_what_is_loaded_then_it_says_not_reloaded() -> None:
    check = c.ami_write_classes("ivr-agent", _listing("write-call-user"), "call,user,system")
    assert check.status is Status.OK
    assert "manager.conf now says write = call,user,system: not reloaded?" in check.found


# --- read classes, timestamps, event filter -------------------------------------------------


@pytest.mark.parametrize(
    ("read", "status", "found"),
    [
        ("call,agent,user,dtmf,reporting", Status.OK, "read = agent,call,dtmf,reporting,user"),
        (
            "call,user",
            Status.FAIL,
            "read = call,user: lacks agent,dtmf,reporting (their events never reach the agent)",
        ),
        (
            "call,agent,user,dtmf,reporting,system",
            Status.WARN,
            "read = agent,call,dtmf,reporting,system,user: system not needed",
        ),
        ("all", Status.WARN, "read = all: every class, more than it needs"),
    ],
)
def test_read_classes_from_manager_conf(read: str, status: Status, found: str) -> None:
    check = c.ami_read_classes("ivr-agent", read, user_events_arrive=True)
    assert (check.status, check.found) == (status, found)


def test_given_manager_conf_unreadable_then_the_read_classes_are_a_warning_or_a_failure() -> None:
    assert c.ami_read_classes("ivr-agent", None, user_events_arrive=True).status is Status.WARN
    assert c.ami_read_classes("ivr-agent", "", user_events_arrive=False).status is Status.FAIL


def test_given_events_without_timestamp_then_timestampevents_fails_with_the_fix() -> None:
    echo = {"Event": "UserEvent", "UserEvent": "IvrAgentDoctor", "Privilege": "user,all"}
    check = c.ami_timestamps(echo, configured="yes")  # what the event shows wins
    assert check.status is Status.FAIL
    assert check.fix.startswith("in manager.conf [general]: timestampevents = yes")
    assert c.ami_timestamps({**echo, "Timestamp": "1796239340.853009"}, None).status is Status.OK


def test_given_no_event_then_timestampevents_is_read_from_manager_conf() -> None:
    assert c.ami_timestamps(None, "no").status is Status.FAIL
    assert c.ami_timestamps(None, "yes").status is Status.OK
    assert c.ami_timestamps(None, None).status is Status.SKIP


def test_given_unconsumed_events_arrive_then_the_filter_fails_naming_them() -> None:
    check = c.ami_event_filter(
        "ivr-agent",
        {"BridgeCreate": 1, "RTCPSent": 7},
        canary_sent=True,
        user_events_arrive=True,
        read_configured=None,
    )
    assert check.status is Status.FAIL
    assert "8 event(s) the agent does not consume reached it (RTCPSent, BridgeCreate)" in (
        check.found
    )
    assert "ivr-agent ami-filters" in check.fix


def _filter(
    *, canary_sent: bool = True, user_events_arrive: bool = True, read: str = "call,user"
) -> Check:
    return c.ami_event_filter(
        "u",
        {},
        canary_sent=canary_sent,
        user_events_arrive=user_events_arrive,
        read_configured=read,
    )


def test_given_the_canary_was_filtered_then_the_filter_is_ok() -> None:
    assert _filter().status is Status.OK
    assert _filter(canary_sent=False).status is Status.SKIP
    # Without read class call the missing BridgeCreate proves nothing.
    assert _filter(read="user").status is Status.SKIP
    dropped = _filter(user_events_arrive=False)
    assert dropped.status is Status.FAIL
    assert "UserEvent" in dropped.found


def test_login_failures_tell_credentials_from_reachability() -> None:
    refused = c.ami_login("ivr-agent", "127.0.0.1:5038", "login refused or failed")
    unreachable = c.ami_login(
        "ivr-agent", "127.0.0.1:5038", "connect failed: ConnectionRefusedError"
    )
    assert refused.status is unreachable.status is Status.FAIL
    assert "secret" in refused.fix
    assert "host and port" in unreachable.fix


# --- ARI, dialplan, modules -----------------------------------------------------------------


def test_ari_login_failures() -> None:
    denied = c.ari_login("ivr-agent", "h:8088", error="401", status=401, version=None)
    assert "password" in denied.fix
    read_only = c.ari_login(
        "ivr-agent",
        "h:8088",
        error=None,
        status=None,
        version="22",
        write_error="403",
        write_status=403,
    )
    assert read_only.status is Status.FAIL
    assert "read_only = no" in read_only.fix
    ok = c.ari_login("ivr-agent", "h:8088", error=None, status=None, version="22.10.1")
    assert ok == Check("ari login", Status.OK, "ivr-agent@h:8088, Asterisk 22.10.1")


def test_ari_login_warns_when_every_request_costs_the_pbx_a_slow_password_check() -> None:
    def login(request_ms: float) -> Check:
        return c.ari_login(
            "ivr-agent", "h:8088", error=None, status=None, version="22", request_ms=request_ms
        )

    fast = login(0.9)
    assert (fast.status, fast.found) == (
        Status.OK,
        "ivr-agent@h:8088, Asterisk 22, 0.9 ms per request",
    )
    slow = login(5.6)  # SHA-512 crypt with 5,000 rounds, as the sandbox measured it
    assert (slow.status, slow.found) == (
        Status.WARN,
        "ivr-agent@h:8088, Asterisk 22, 5.6 ms per request",
    )
    assert "ivr-agent ari-user" in slow.fix
    assert "module reload res_ari.so" in slow.fix


def test_given_the_hooks_name_another_app_then_ari_app_fails() -> None:
    check = c.ari_app("ivr-agent-b", registered=False, hook_apps=frozenset({"ivr-agent"}))
    assert check.status is Status.FAIL
    assert (
        check.found == "the PBX's hooks hand calls to Stasis(ivr-agent), the agent is ivr-agent-b"
    )
    ok = c.ari_app("ivr-agent", registered=True, hook_apps=frozenset({"ivr-agent"}))
    assert ok.found == "ivr-agent, as the PBX's hooks name it (an agent is connected now)"


def test_the_shipped_hooks_contexts_and_their_stasis_app() -> None:
    text = share.dialplan_hooks("ivr-agent-b")
    assert c.hook_contexts(text) == [
        "ivr-agent-inbound",
        "ivr-agent-after-queue",
        "ivr-agent-survey-handover",
        "ivr-agent-operator-leg",
        "ivr-agent-mute",
        "ivr-agent-queue-callback",
        "ivr-agent-queue-member",
        "ivr-agent-talk-detect",
    ]
    assert c.stasis_apps(text.splitlines()) == {"ivr-agent-b"}


def test_inbound_recorder_verdicts() -> None:
    shipped = share.dialplan_hooks("ivr-agent").splitlines()
    assert c.inbound_recorder("snoop", None).status is Status.OK
    ok = c.inbound_recorder("mixmonitor", shipped)
    assert (ok.status, ok.found) == (
        Status.OK,
        "mixmonitor: the ivr-agent-inbound hook records callers",
    )
    older = [line for line in shipped if "MixMonitor(" not in line]
    failed = c.inbound_recorder("mixmonitor", older)
    assert failed.status is Status.FAIL
    assert "ivr-agent dialplan" in failed.fix
    assert c.inbound_recorder("mixmonitor", None).status is Status.WARN


def test_dialplan_hooks_verdicts() -> None:
    present = {"ivr-agent-inbound": "1", "ivr-agent-talk-detect": "1"}
    assert c.dialplan_hooks(present, "the shipped hooks").status is Status.OK
    missing = c.dialplan_hooks({**present, "ivr-agent-after-queue": "0"}, "hooks.conf")
    assert missing.found == "missing on the PBX: ivr-agent-after-queue (from hooks.conf)"
    assert "ivr-agent dialplan" in missing.fix
    assert c.dialplan_hooks({"ivr-agent-inbound": ""}, "x").status is Status.WARN


@pytest.mark.parametrize(
    ("ifmodule", "status"), [("1", Status.OK), ("0", Status.FAIL), ("", Status.WARN)]
)
def test_talk_detect_from_ifmodule(ifmodule: str, status: Status) -> None:
    check = c.talk_detect(ifmodule)
    assert check.status is status
    if status is Status.FAIL:
        assert "module load func_talkdetect.so" in check.fix


# --- prompts, clock, database, recordings ---------------------------------------------------


def test_prompt_files_name_the_missing_ones() -> None:
    missing = ["zh-CN/a.wav", "zh-CN/b.wav", "zh-CN/c.wav", "zh-CN/d.wav"]
    check = c.prompt_files("/p", 28, missing)
    assert check.found == "4 of 28 missing in /p (zh-CN/a.wav, zh-CN/b.wav, zh-CN/c.wav and 1 more)"
    assert check.fix == "ivr-agent prompts build"
    assert c.prompt_files("/p", 28, []).status is Status.OK


@pytest.mark.parametrize(
    ("seen", "status"),
    [
        (c.Visibility.SEEN, Status.OK),
        (c.Visibility.UNSEEN, Status.FAIL),
        (c.Visibility.UNWRITABLE, Status.FAIL),
        (c.Visibility.UNKNOWN, Status.WARN),
    ],
)
def test_prompts_on_the_pbx(seen: c.Visibility, status: Status) -> None:
    check = c.prompts_on_pbx("/srv/p", "/usr/share/asterisk/sounds/ivr-agent", "ivr-agent", seen)
    assert check.status is status


@pytest.mark.parametrize(
    ("reach", "media_cache", "status"),
    [
        (c.Reach.AGENT, "1", Status.OK),
        (c.Reach.STAND_IN, "1", Status.OK),
        (c.Reach.NONE, "1", Status.FAIL),
        (c.Reach.UNKNOWN, "1", Status.WARN),
        (c.Reach.AGENT, "0", Status.FAIL),
    ],
)
def test_prompts_over_http(reach: c.Reach, media_cache: str, status: Status) -> None:
    check = c.prompts_over_http("http://10.0.0.5:8080", reach, media_cache)
    assert check.status is status
    if media_cache == "0":
        assert "res_http_media_cache" in check.found
    elif reach is c.Reach.NONE:
        assert check.found.startswith("the PBX gets no answer from http://10.0.0.5:8080/healthz")
        assert "IVR_AGENT_PROMPTS_URL" in check.fix


@pytest.mark.parametrize(
    ("skew", "status"),
    [(0.004, Status.OK), (-0.9, Status.OK), (2.5, Status.WARN), (-75.0, Status.FAIL)],
)
def test_clock_skew_thresholds(skew: float, status: Status) -> None:
    check = c.clock_skew(skew, "AMI event Timestamp")
    assert check.status is status
    assert check.found.startswith(f"PBX {skew:+.3f} s from this host")


def test_database_verdicts() -> None:
    ok = c.database("db", error=None, current="0005", head="0005", pending=0)
    assert ok.status is Status.OK
    behind = c.database("db", error=None, current="0003", head="0005", pending=2)
    assert (behind.status, behind.fix) == (Status.WARN, "ivr-agent migrate")
    strict = c.database(
        "db", error=None, current="0003", head="0005", pending=2, auto_migrate=False
    )
    assert strict.status is Status.FAIL
    assert (
        strict.found
        == "db: revision 0003, 2 migration(s) behind 0005 and IVR_AGENT_AUTO_MIGRATE=false"
    )
    newer = c.database("db", error=None, current="0009", head="0005", pending=None)
    assert (newer.status, newer.fix) == (
        Status.FAIL,
        "upgrade ivr-agent to the version that migrated it",
    )
    down = c.database("db", error="connection refused")
    assert down.status is Status.FAIL


def test_recordings_verdicts() -> None:
    assert c.recordings(3, None) == Check(
        "recordings", Status.OK, "ARI lists 3 stored recording(s)"
    )
    assert c.recordings(None, "ARI GET /recordings/stored: 500").status is Status.FAIL


# --- the report -----------------------------------------------------------------------------


def test_the_report_is_one_line_per_check_with_the_fix_under_failures_and_warnings() -> None:
    report = [
        Check("ami login", Status.OK, "ivr-agent@127.0.0.1:5038"),
        Check("ami timestamps", Status.FAIL, "events carry no Timestamp", "timestampevents = yes"),
        Check("clock skew", Status.WARN, "PBX +2.000 s", "use NTP"),
        c.skipped("recordings", "needs ARI login"),
    ]
    assert render(report) == (
        "OK    ami login       ivr-agent@127.0.0.1:5038\n"
        "FAIL  ami timestamps  events carry no Timestamp\n"
        "                      fix: timestampevents = yes\n"
        "WARN  clock skew      PBX +2.000 s\n"
        "                      fix: use NTP\n"
        "SKIP  recordings      not checked: needs ARI login\n"
        "1 FAIL, 1 WARN, 1 SKIP, 1 OK\n"
    )
    assert exit_status(report) == 1
    assert exit_status([report[0], report[2], report[3]]) == 0

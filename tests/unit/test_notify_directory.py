"""The departments file: what it describes, and each fault named with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr_agent.notify import Contacts, Directory, DirectoryError, load_directory
from ivr_agent.notify.directory import parse_directory
from ivr_agent.notify.toml_lines import TomlLines

GOOD = """\
# Quality management: told of every escalation.
[quality]
emails = ["quality@example.com"]
webhook = "https://hooks.example.com/quality"

[[department]]
id = "billing"
name = "账务部"
emails = ["billing@example.com", "billing-duty@example.com"]
webhook = "https://hooks.example.com/billing"

[department.management]
emails = ["billing-head@example.com"]

[[department]]
id = "network"
name = "网络部"
webhook = "http://10.0.0.9:8000/hook"
management = { emails = ["cto@example.cn"] }
"""


def faults(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(DirectoryError) as caught:
        parse_directory(text, "/etc/ivr-agent/departments.toml")
    return [(f.line, f.message) for f in caught.value.faults]


def test_given_the_readme_example_then_every_department_and_contact_is_read() -> None:
    directory = parse_directory(GOOD, "departments.toml")
    assert directory.quality == Contacts(
        emails=("quality@example.com",), webhook="https://hooks.example.com/quality"
    )
    assert list(directory.departments) == ["billing", "network"]
    billing = directory.departments["billing"]
    assert billing.name == "账务部"
    assert billing.contacts.emails == ("billing@example.com", "billing-duty@example.com")
    assert billing.management == Contacts(emails=("billing-head@example.com",))
    network = directory.departments["network"]
    assert network.contacts == Contacts(webhook="http://10.0.0.9:8000/hook")
    assert network.management.emails == ("cto@example.cn",)


def test_given_no_file_setting_then_the_directory_is_empty() -> None:
    assert load_directory(None) == Directory()


def test_given_an_unknown_key_then_its_line_and_the_allowed_keys_are_named() -> None:
    text = GOOD.replace('emails = ["billing-head@example.com"]', 'emial = ["x@example.com"]')
    [(line, message)] = faults(text)
    assert line == 13
    assert "unknown key 'emial'" in message
    assert "allowed: emails, webhook" in message


def test_given_a_bad_address_in_a_multiline_list_then_the_address_line_is_named() -> None:
    text = GOOD.replace(
        'emails = ["billing@example.com", "billing-duty@example.com"]',
        'emails = [\n  "billing@example.com",\n  "billing-at-example.com",  # typo\n]',
    )
    [(line, message)] = faults(text)
    assert line == 11
    assert "'billing-at-example.com' is not an e-mail address" in message
    assert "department 'billing'" in message


def test_given_a_webhook_that_is_not_http_then_its_line_is_named() -> None:
    [(line, message)] = faults(GOOD.replace("http://10.0.0.9:8000/hook", "ftp://10.0.0.9/hook"))
    assert line == 18
    assert "'ftp://10.0.0.9/hook' is not an http:// or https:// URL" in message


def test_given_a_duplicate_id_then_both_lines_are_named() -> None:
    [(line, message)] = faults(GOOD.replace('id = "network"', 'id = "billing"'))
    assert line == 16
    assert message == "department id 'billing' is already used on line 7"


def test_given_a_department_without_name_then_its_header_line_is_named() -> None:
    [(line, message)] = faults(GOOD.replace('name = "网络部"\n', ""))
    assert line == 15
    assert "'network' without name" in message


def test_given_a_department_nobody_can_be_reached_at_then_it_is_refused() -> None:
    text = '[[department]]\nid = "x"\nname = "X"\n\n[department.management]\nemails = []\n'
    [(line, message)] = faults(text)
    assert line == 1
    assert "no e-mail address and no webhook" in message


def test_given_several_faults_then_each_is_named_and_the_message_names_the_file() -> None:
    text = GOOD.replace('id = "network"', 'id = "bad id"').replace("[quality]", "[qualty]")
    with pytest.raises(DirectoryError) as caught:
        parse_directory(text, "/etc/ivr-agent/departments.toml")
    lines = str(caught.value).splitlines()
    assert lines == [
        "IVR_AGENT_DEPARTMENTS_FILE /etc/ivr-agent/departments.toml, line 2: unknown key "
        "'qualty' in the file (allowed: quality, department)",
        "IVR_AGENT_DEPARTMENTS_FILE /etc/ivr-agent/departments.toml, line 16: id 'bad id' "
        "must be 1-64 letters, digits, '_' or '-'",
    ]


def test_given_a_toml_syntax_error_then_tomllibs_line_is_in_the_message() -> None:
    [(line, message)] = faults('[[department]]\nid = "x\n')
    assert line is None
    assert message.startswith("not TOML:")
    assert "line 2" in message


def test_given_a_missing_file_then_the_error_names_the_setting_and_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(DirectoryError, match=r"IVR_AGENT_DEPARTMENTS_FILE .*nope\.toml: cannot"):
        load_directory(path)


def test_given_tables_and_keys_hidden_in_strings_then_the_lines_are_still_right() -> None:
    text = (
        '[[department]]\nid = "a"\nname = """\n[[department]]\nid = "b"\n"""\n'
        "note = 'x = [1'  # [[department]]\n"
        '[[department]]\n"quoted.key" = 1\nsub . inner = 2\n'
    )
    lines = TomlLines(text)
    assert lines.line(("department", 0, "name")) == 3
    assert lines.line(("department", 0, "note")) == 7
    assert lines.line(("department", 1)) == 8
    assert lines.line(("department", 1, "quoted.key")) == 9
    assert lines.line(("department", 1, "sub", "inner")) == 10
    # An unknown key's path falls back to its table's header.
    assert lines.line(("department", 1, "missing")) == 8


def test_given_the_example_then_chase_and_escalation_go_to_the_right_parties() -> None:
    directory = parse_directory(GOOD, "departments.toml")
    billing = directory.departments["billing"]
    assert directory.chase_to("billing") == (billing.contacts,)
    assert directory.escalate_to("billing") == (billing.management, directory.quality)
    assert directory.chase_to("unknown") == ()
    assert directory.escalate_to("unknown") == (directory.quality,)
    assert Directory().escalate_to("billing") == ()


def test_given_windows_line_ends_and_a_byte_order_mark_then_it_reads_and_lines_hold() -> None:
    text = "\ufeff" + GOOD.replace("\n", "\r\n")
    assert list(parse_directory(text, "departments.toml").departments) == ["billing", "network"]
    [(line, _message)] = faults(text.replace('id = "network"', 'id = "billing"'))
    assert line == 16

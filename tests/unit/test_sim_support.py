"""Small pure parts of the sandbox and the capture: mirror discovery, AMI message parsing."""

from __future__ import annotations

from pathlib import Path

from ivr_agent.sim.capture import parse_message
from ivr_agent.sim.chroot import DEFAULT_MIRROR, host_mirror


def test_given_deb822_sources_then_the_first_non_security_mirror_is_used(tmp_path: Path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n"
    )
    assert host_mirror([sources]) == "http://mirror.example/debian"


def test_given_one_line_sources_then_the_mirror_is_read(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text("# comment\ndeb [arch=amd64] http://ftp.example/debian bookworm main\n")
    assert host_mirror([tmp_path / "missing", sources]) == "http://ftp.example/debian"


def test_given_no_sources_then_the_default_mirror(tmp_path: Path) -> None:
    assert host_mirror([tmp_path / "missing"]) == DEFAULT_MIRROR


def test_given_an_ami_message_then_fields_repeats_and_utf8_survive() -> None:
    raw = (
        "Event: Newchannel\r\nCallerIDName: 张三\r\nAppData: a: b\r\n"
        "ChanVariable: X=1\r\nChanVariable: Y=2\r\nBroken line\r\n\r\n"
    ).encode()
    message = parse_message(raw)
    assert message["Event"] == "Newchannel"
    assert message["CallerIDName"] == "张三"
    assert message["AppData"] == "a: b"
    assert message["ChanVariable"] == ["X=1", "Y=2"]
    assert "Broken line" not in message

"""The agent's ARI user section: a SHA-512 crypt hash the PBX's crypt(3) verifies, at the
rounds asked for (the PBX pays them on every ARI request)."""

from __future__ import annotations

import pytest

from ivr_agent.pbx import ari_user
from ivr_agent.pbx.ari_user import MIN_ROUNDS, ari_user_section, sha512_crypt

SECRET = "Zq3-W8dR_kq0vYx1mN2bC4eF6gH8jK0l"


def test_the_hash_verifies_with_crypt_and_only_for_its_password() -> None:
    hashed = sha512_crypt(SECRET)
    assert hashed.startswith(f"$6$rounds={MIN_ROUNDS}$")
    # crypt(3) with the hash as its setting gives the hash back for the right password,
    # which is how Asterisk checks a request's password.
    assert ari_user._crypt(SECRET.encode(), hashed.encode()) == hashed
    assert ari_user._crypt(b"another secret", hashed.encode()) != hashed


def test_each_hash_has_its_own_salt_and_the_rounds_asked_for() -> None:
    first, second = sha512_crypt(SECRET), sha512_crypt(SECRET, rounds=5000)
    assert first.split("$")[3] != second.split("$")[3]
    assert second.startswith("$6$rounds=5000$")


@pytest.mark.parametrize(
    ("password", "rounds", "problem"),
    [(SECRET, 999, "rounds must be 1000-999999999"), ("a\0b", MIN_ROUNDS, "NUL")],
)
def test_what_crypt_cannot_take_is_refused_by_name(
    password: str, rounds: int, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        sha512_crypt(password, rounds=rounds)


def test_the_section_is_a_read_write_user_with_a_crypt_password() -> None:
    lines = ari_user_section("ivr-agent", SECRET).splitlines()
    assert lines[:3] == ["[ivr-agent]", "type = user", "read_only = no"]
    assert lines[3].startswith("password = $6$rounds=1000$")
    assert lines[4] == "password_format = crypt"


def test_the_command_prints_the_section_and_asks_for_a_longer_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ivr_agent.cli import main

    monkeypatch.setenv("IVR_AGENT_ARI_URL", "http://ivr-agent:short@127.0.0.1:8088")
    assert main(["ari-user"]) == 0
    out = capsys.readouterr().out
    assert "[ivr-agent]\n" in out
    assert "password_format = crypt" in out
    assert "is short (5 characters)" in out

    monkeypatch.delenv("IVR_AGENT_ARI_URL")
    assert main(["ari-user"]) == 2
    assert "set IVR_AGENT_ARI_URL" in capsys.readouterr().err

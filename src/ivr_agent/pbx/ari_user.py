"""The agent's ARI user for ``ari.conf``, its password hashed the way the PBX checks it.

Asterisk checks an ARI user's password on every REST request: ARI has no session, and with
``password_format = crypt`` the PBX runs crypt(3) on the password each time. The SHA-512
crypt that ``openssl passwd -6`` makes uses 5,000 rounds: in the sandbox a bare
``GET /asterisk/ping`` took 5-7 ms with it and 0.7-1.0 ms with a plain password, all of
the difference PBX CPU. The agent sends about seven requests per answered call (recording:
snoop, record, fetch, delete; the 工号播报: snoop, play) and every prompt waits for two.

Rounds exist to slow down guessing a password a person chose. The agent's ARI secret is
machine-made and long (the sandbox's: 32 random URL-safe characters, 192 bits), which no
number of guesses reaches; SHA-512 crypt's minimum, 1,000 rounds, keeps it hashed at rest
for a fifth of the cost. The hash is made by the system's own crypt(3) (libxcrypt), the
library Asterisk verifies it with.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import secrets
import string

#: SHA-512 crypt's minimum number of rounds (crypt(3) raises a smaller count to it).
MIN_ROUNDS = 1000
#: Secrets shorter than this are worth more rounds (``ivr-agent ari-user`` says so).
LONG_SECRET = 20
_SALT_ALPHABET = "./" + string.digits + string.ascii_uppercase + string.ascii_lowercase


class AriUserError(RuntimeError):
    """The password cannot be hashed here (no usable crypt(3) library)."""


def sha512_crypt(password: str, *, rounds: int = MIN_ROUNDS) -> str:
    """``password`` as SHA-512 crypt (``$6$rounds=N$salt$hash``) with a random salt.

    Raises :class:`AriUserError` without a crypt(3) library that makes SHA-512 crypt, and
    ValueError for a password crypt(3) cannot take (a NUL character) or a rounds count out
    of SHA-512 crypt's range.
    """
    if not MIN_ROUNDS <= rounds <= 999_999_999:
        raise ValueError(f"rounds must be {MIN_ROUNDS}-999999999, not {rounds}")
    if "\0" in password:
        raise ValueError("the password holds a NUL character, which crypt(3) cannot take")
    salt = "".join(secrets.choice(_SALT_ALPHABET) for _ in range(16))
    setting = f"$6$rounds={rounds}${salt}$"
    hashed = _crypt(password.encode(), setting.encode())
    if not hashed.startswith(setting):
        raise AriUserError(f"this system's crypt(3) does not make SHA-512 crypt ({hashed[:3]!r})")
    return hashed


def ari_user_section(user: str, password: str, *, rounds: int = MIN_ROUNDS) -> str:
    """The ``ari.conf`` section of the agent's ARI user (read and write, hashed password)."""
    return (
        f"[{user}]\ntype = user\nread_only = no\n"
        f"password = {sha512_crypt(password, rounds=rounds)}\npassword_format = crypt\n"
    )


def _crypt(password: bytes, setting: bytes) -> str:
    name = ctypes.util.find_library("crypt")
    if name is None:
        raise AriUserError("no crypt(3) library (libcrypt) on this system")
    library = ctypes.CDLL(name)
    # crypt() returns a static buffer (not thread-safe): called from the CLI and the
    # sandbox's configuration, one thread each.
    crypt = library.crypt
    crypt.restype = ctypes.c_char_p
    crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    result = crypt(password, setting)
    if not result:
        raise AriUserError("crypt(3) refused the password")
    return str(result.decode("ascii"))

"""Verdicts on the prompts: the files, what the PBX can see of them and their HTTP delivery."""

from __future__ import annotations

import enum
from collections.abc import Sequence

from ivr_agent.doctor.checks.verdict import Check, Status, first_few


def prompt_files(prompts_dir: str, expected: int, missing: Sequence[str]) -> Check:
    """The catalogue's files (``expected`` of them) in the agent's prompts directory."""
    name = "prompt files"
    if missing:
        return Check(
            name,
            Status.FAIL,
            f"{len(missing)} of {expected} missing in {prompts_dir} ({first_few(missing, 3)})",
            "ivr-agent prompts build",
        )
    return Check(name, Status.OK, f"{expected} files in {prompts_dir}")


class Visibility(enum.StrEnum):
    """Whether the PBX read the probe file the doctor put in the prompts directory."""

    SEEN = "seen"
    UNSEEN = "unseen"
    UNWRITABLE = "unwritable"
    UNKNOWN = "unknown"


def prompts_on_pbx(
    prompts_dir: str, pbx_dir: str, media_prefix: str, seen: Visibility, detail: str = ""
) -> Check:
    """Whether the PBX finds the agent's prompt files where it plays them from.

    The doctor writes a small file into ``prompts_dir`` and asks the PBX to read it back
    from ``pbx_dir`` (its ``ASTDATADIR/sounds/PREFIX``): only then does
    ``sound:PREFIX/…`` play what the agent renders, including at call time.
    """
    name = "prompts on the pbx"
    if seen is Visibility.SEEN:
        return Check(
            name, Status.OK, f"the PBX reads {prompts_dir} as {pbx_dir} (sound:{media_prefix}/…)"
        )
    if seen is Visibility.UNWRITABLE:
        return Check(
            name,
            Status.FAIL,
            f"cannot write into {prompts_dir} ({detail}); the agent renders prompts there "
            "at call time",
            "make IVR_AGENT_PROMPTS_DIR writable for the agent's user",
        )
    if seen is Visibility.UNKNOWN:
        return Check(
            name,
            Status.WARN,
            f"cannot tell: the PBX would not read files through AST_CONFIG ({detail})",
            f"check by hand that {pbx_dir} on the PBX is {prompts_dir} on this host",
        )
    return Check(
        name,
        Status.FAIL,
        f"a file written to {prompts_dir} is not in {pbx_dir} on the PBX: every prompt "
        "would be silent",
        "IVR_AGENT_PROMPTS_DELIVERY=http (no shared directory), or IVR_AGENT_PROMPTS_DIR "
        f"the directory the PBX has as {pbx_dir}, or IVR_AGENT_PROMPTS_MEDIA_PREFIX where "
        "PROMPTS_DIR appears under its sounds",
    )


class Reach(enum.StrEnum):
    """Whether the PBX fetched ``PROMPTS_URL/healthz`` (http delivery), and from whom."""

    AGENT = "agent"  # the running agent answered the PBX
    STAND_IN = "stand-in"  # no agent ran: the doctor listened where it would, and was reached
    NONE = "none"
    UNKNOWN = "unknown"


def prompts_over_http(base: str, reach: Reach, media_cache: str | None, detail: str = "") -> Check:
    """http delivery: the PBX plays ``sound:BASE/prompts/…``, so it must reach ``base``
    (``reach``) and have ``res_http_media_cache.so`` (``media_cache``: IFMODULE's "1"/"0")."""
    name = "prompts on the pbx"
    if (media_cache or "").strip() == "0":
        return Check(
            name,
            Status.FAIL,
            "res_http_media_cache.so is not loaded: the PBX cannot play sound:http://…",
            "asterisk -rx 'module load res_http_media_cache.so' (and no noload for it in "
            "modules.conf), or IVR_AGENT_PROMPTS_DELIVERY=directory",
        )
    if reach is Reach.AGENT:
        return Check(name, Status.OK, f"the PBX reaches the agent at {base} (http delivery)")
    if reach is Reach.STAND_IN:
        return Check(
            name,
            Status.OK,
            f"the PBX reaches {base} (http delivery; no agent runs: the doctor listened "
            "in its place)",
        )
    if reach is Reach.UNKNOWN:
        return Check(
            name,
            Status.WARN,
            f"cannot tell whether the PBX reaches {base}: {detail}",
            f"check by hand from the PBX: curl {base}/healthz",
        )
    return Check(
        name,
        Status.FAIL,
        f"the PBX gets no answer from {base}/healthz{': ' + detail if detail else ''}: "
        "every prompt would be silent",
        "set IVR_AGENT_PROMPTS_URL to this host's address as the PBX reaches it (and let "
        "the PBX through a firewall to that port), or IVR_AGENT_PROMPTS_DELIVERY=directory",
    )

"""Stand-ins for the IVR layer's collaborators in unit tests: a catalogue of pre-rendered
files and an ARI session whose PBX cannot be reached."""

from __future__ import annotations

import socket
from collections.abc import Mapping

from ivr_agent.pbx.ari import AriClient, AriTarget
from ivr_agent.pbx.session import Audience, Ivr
from ivr_agent.pbx.stasis import StasisRouter
from ivr_agent.settings import load_settings


class FileCatalogue:
    """A catalogue whose every prompt in ``names`` is one pre-rendered file."""

    def __init__(self, names: frozenset[str], audience: Audience = "caller") -> None:
        self.names = names
        self._audience = audience

    def audience(self, name: str) -> Audience:
        """Who hears every prompt (the same for all)."""
        return self._audience

    def media(self, name: str, variables: Mapping[str, str] = {}) -> str:
        """The prompt's file under the PBX's sounds."""
        return f"sound:ivr-agent/zh-CN/{name}"

    async def ensure_media(self, name: str, variables: Mapping[str, str]) -> str:
        """Nothing to render: :meth:`media`."""
        return self.media(name, variables)


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unreachable_ivr(catalogue: FileCatalogue) -> Ivr:
    """An ARI session whose PBX refuses every connection (close its client after use)."""
    client = AriClient(AriTarget(f"http://127.0.0.1:{closed_port()}", "u", "p"), timeout=1)
    return Ivr(
        client=client,
        router=StasisRouter(client, "ivr-agent"),
        catalogue=catalogue,
        settings=load_settings(),
    )

"""The Docker files cannot be built here (no engine): check what reading can check."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def _copied_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        match = re.match(r"COPY\s+(?!--from)(.+)\s+\S+$", line.strip())
        if match:
            sources += match.group(1).split()
    return sources


def test_compose_services_build_from_dockerfiles_that_exist() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert set(compose["services"]) == {"postgres", "asterisk", "agent"}
    for name, service in compose["services"].items():
        # Host networking keeps AMI, ARI and PostgreSQL on 127.0.0.1 (RELIABILITY.md).
        assert service["network_mode"] == "host", name
        if "build" in service:
            context = (DOCKER / service["build"]["context"]).resolve()
            assert (context / service["build"]["dockerfile"]).is_file(), name


def test_every_file_a_dockerfile_copies_is_in_the_repository() -> None:
    for dockerfile in DOCKER.glob("*Dockerfile"):
        for source in _copied_sources(dockerfile):
            assert (ROOT / source).exists(), f"{dockerfile.name} copies missing {source}"


def test_the_agent_image_runs_as_a_non_root_user() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users
    assert users[-1] not in {"root", "0"}

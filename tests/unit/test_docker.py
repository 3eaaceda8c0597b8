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


def test_the_asterisk_image_sets_the_options_the_sandbox_pbx_runs_with() -> None:
    from ivr_agent.sim.sandbox_setup import PBX_OPTIONS

    text = (DOCKER / "asterisk.Dockerfile").read_text()
    assert f"[options]\\n{PBX_OPTIONS}" in text
    # Asterisk's control socket and pid file live there; the package makes it at boot only.
    assert "/run/asterisk" in text


def test_the_asterisk_image_renders_its_greeting_in_the_catalogues_mandarin_voice() -> None:
    import tomllib

    catalogue = tomllib.loads(
        (ROOT / "src/ivr_agent/prompts/catalogue.toml").read_text(encoding="utf-8")
    )
    voice = catalogue["languages"]["zh-CN"]["espeak_voice"]
    voices = re.findall(r"espeak-ng -v (\S+)", (DOCKER / "asterisk.Dockerfile").read_text())
    assert voices == [voice]


def test_compose_needs_no_shared_sounds_and_names_the_ami_classes_the_doctor_wants() -> None:
    from ivr_agent.doctor.checks import AMI_READ_CLASSES, AMI_WRITE_CLASSES

    text = (DOCKER / "compose.yaml").read_text()
    compose = yaml.safe_load(text)
    agent, pbx = compose["services"]["agent"], compose["services"]["asterisk"]
    # Prompts over HTTP: the agent listens where the PBX (same host) reaches it...
    listen = agent["environment"]["IVR_AGENT_HTTP_LISTEN"]
    assert listen.startswith("127.0.0.1:")
    # ...and no volume of the agent is mounted into the PBX.
    agent_volumes = {v.split(":")[0] for v in agent.get("volumes", [])}
    assert not agent_volumes & {v.split(":")[0] for v in pbx.get("volumes", [])}
    assert "prompts build" in " ".join(agent["entrypoint"])
    read = re.search(r"read = ([a-z,]+)", text)
    write = re.search(r"write = ([a-z,]+)", text)
    assert read is not None
    assert write is not None
    assert set(read.group(1).split(",")) == AMI_READ_CLASSES
    assert set(write.group(1).split(",")) == AMI_WRITE_CLASSES


def test_the_pbx_config_loads_what_http_prompts_need() -> None:
    modules = (DOCKER / "asterisk" / "modules.conf").read_text()
    for module in ("res_curl.so", "res_http_media_cache.so"):
        assert re.search(rf"^require\s*=\s*{re.escape(module)}", modules, flags=re.M), module

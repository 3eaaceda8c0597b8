"""Making the sandbox: provisioning the Debian root once (debootstrap, Asterisk 22, speech
prompts) and writing a lane's configuration into it on every ``up``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from ivr_agent import share
from ivr_agent.core.events import SUBSCRIBED_EVENTS
from ivr_agent.pbx.ami import eventfilter_lines
from ivr_agent.pbx.ari_user import ari_user_section
from ivr_agent.sim import chroot, load_desks, sandbox_layout
from ivr_agent.sim.sandbox_layout import (
    PACKAGES,
    RECIPE_VERSION,
    SOUNDS,
    SOUNDS_DIR,
    Credentials,
    Progress,
    Sandbox,
    SandboxError,
    for_lane,
)

#: Bump when the provisioning recipe changes: an older root is then completed, not reused.
# --- provisioning ----------------------------------------------------------------------------


#: What the PBX under test adds to Debian's ``asterisk.conf`` ``[options]`` (the Docker
#: image adds the same; tests/unit/test_docker.py checks): send silence while a channel
#: waits (Read(), a queue without music), so the far end keeps receiving frames, which its
#: talk detection needs to notice that a prompt ended.
PBX_OPTIONS = "transmit_silence = yes"


def provision(sandbox: Sandbox, progress: Progress) -> None:
    """Create the Debian root with Asterisk 22 unless a complete one is already there."""
    if sandbox.provisioned():
        return
    log = sandbox.state_dir / "provision.log"
    started = time.monotonic()
    progress(f"provisioning a Debian sid root in {sandbox.root} (about a minute; log {log})")
    bootstrapped = sandbox.root / ".ivr-agent-debootstrapped"
    if not bootstrapped.exists() and not sandbox.marker.exists():
        if sandbox.root.exists():
            # What an interrupted debootstrap left is no base to build on: start over.
            _step(progress, f"removing the incomplete root {sandbox.root}", started)
            _remove_root(sandbox)
        mirror = chroot.host_mirror()
        _step(progress, f"debootstrap sid from {mirror} (about 25 s)", started)
        chroot.debootstrap(sandbox.root, mirror, log)
        bootstrapped.write_text(mirror + "\n")
    chroot.mount_system(sandbox.root)
    _step(progress, "apt-get install " + " ".join(PACKAGES) + " (about 15 s)", started)
    chroot.apt_install(sandbox.root, PACKAGES, log)
    _step(progress, "rendering speech prompts with espeak-ng", started)
    _render_sounds(sandbox.root, log)
    sandbox.marker.write_text(RECIPE_VERSION + "\n")
    _step(progress, "provisioned", started)


def _remove_root(sandbox: Sandbox) -> None:
    survivors = chroot.kill_all_in(sandbox.root)
    left = chroot.unmount_all(sandbox.root)
    if survivors or left:
        raise SandboxError(
            f"cannot remove the incomplete root {sandbox.root}: processes {survivors}, "
            f"mounts {left} remain"
        )
    shutil.rmtree(sandbox.root)


def _step(progress: Progress, message: str, started: float) -> None:
    progress(f"  [{time.monotonic() - started:5.1f} s] {message}")


def _render_sounds(root: Path, log: Path) -> None:
    for directory, name, voice, text in SOUNDS:
        (root / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
        raw, final = f"/tmp/{name}.raw.wav", f"{directory}/{name}.wav"  # noqa: S108 - in chroot
        chroot.run_logged(
            ["chroot", str(root), "espeak-ng", "-v", voice, "-s", "150", "-w", raw, text], log
        )
        # Asterisk plays 8 kHz mono 16-bit WAV natively (no resampling per call).
        chroot.run_logged(
            ["chroot", str(root), "sox", raw, "-r", "8000", "-c", "1", "-b", "16", final], log
        )
        (root / raw.lstrip("/")).unlink(missing_ok=True)


def install_prompts(sandbox: Sandbox, progress: Progress) -> None:
    """``prompts build`` into the root, where ``sound:ivr-agent/…`` resolves for the PBX.

    On every ``up``: cheap when nothing changed (cache), and a changed catalogue reaches a
    running PBX without a restart. Uses the host's espeak-ng and sox and the environment's
    settings (company, operator ids, catalogue override), as an agent started beside it would.
    """
    from ivr_agent.prompts import PromptCatalogue, RenderError, build_prompts
    from ivr_agent.settings import load_settings

    dest = sandbox.root / SOUNDS_DIR.lstrip("/")
    try:
        catalogue = PromptCatalogue.from_settings(load_settings(prompts_dir=dest))
        report = build_prompts(catalogue)
    except (RenderError, ValueError) as exc:
        raise SandboxError(f"cannot install the agent's prompts into {dest}: {exc}") from None
    progress(f"prompts: {report.summary()}")


# --- configuration ---------------------------------------------------------------------------


def load_credentials(sandbox: Sandbox) -> Credentials:
    """The sandbox's secrets, generated (and saved, mode 0600) on first use."""
    path = sandbox.meta_dir / "secrets.json"
    prompts_dir = str(sandbox.root / SOUNDS_DIR.lstrip("/"))
    if path.exists():
        saved = json.loads(path.read_text())
        saved.pop("prompts_dir", None)
        saved.pop("lane", None)
        return dataclasses.replace(Credentials(**saved), prompts_dir=prompts_dir, lane=sandbox.lane)
    creds = Credentials.generate()
    saved = {k: v for k, v in creds.__dict__.items() if k not in {"prompts_dir", "lane"}}
    write_private(path, json.dumps(saved, indent=2) + "\n")
    return dataclasses.replace(creds, prompts_dir=prompts_dir, lane=sandbox.lane)


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _asterisk_ids(root: Path) -> tuple[int, int]:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == "asterisk":
            return int(fields[2]), int(fields[3])
    raise SandboxError(f"no asterisk user in {root}/etc/passwd: provisioning is incomplete")


#: These modules as imported: what the running process's :func:`configure` writes from.
_THIS_CODE = (
    b"".join(Path(module.__file__ or "").read_bytes() for module in (load_desks, sandbox_layout))
    + Path(__file__).read_bytes()
)


def config_digest(sandbox: Sandbox) -> str:
    """Digest of everything :func:`configure` writes from: the config files and this module."""
    digest = hashlib.sha256(RECIPE_VERSION.encode())
    sources: list[Traversable] = [
        *sorted((sandbox.repo_dir / "docker" / "asterisk").glob("*.conf")),
        *share.dialplans(),
    ]
    digest.update(_THIS_CODE)
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    for entry in sorted((resources.files("ivr_agent.sim") / "phones").iterdir(), key=str):
        if entry.name.endswith(".conf"):
            digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return digest.hexdigest()


def configure(sandbox: Sandbox, creds: Credentials) -> None:
    """Write the lane's two instances' configuration into the root and create their
    directories.

    Rewritten on every ``up`` so edits to ``docker/asterisk`` take effect on the next start.
    Lanes other than 0 get the same files with their own ports (:func:`_for_lane`) and their
    own run/spool/log/db directories, so they run beside lane 0 without touching it.
    """
    root = sandbox.root
    pbx, phones = sandbox.instances
    suffix = sandbox.suffix
    uid, gid = _asterisk_ids(root)
    debian_conf = (root / "etc/asterisk/asterisk.conf").read_text()
    moddir_match = re.search(r"^astmoddir\s*=>\s*(\S+)", debian_conf, re.M)
    moddir = moddir_match.group(1) if moddir_match else "/usr/lib/asterisk/modules"

    def lane_text(text: str) -> str:
        return for_lane(text, pbx, phones)

    pbx_etc = _fresh_dir(root, pbx.etc_dir)
    for source in sorted((sandbox.repo_dir / "docker" / "asterisk").glob("*.conf")):
        (pbx_etc / source.name).write_text(lane_text(source.read_text()))
    # The hooks (package data, as an admin gets them from `ivr-agent dialplan`) sit beside
    # extensions.conf, as the Docker image installs them.
    for hooks in share.dialplans():
        (pbx_etc / hooks.name).write_bytes(hooks.read_bytes())
    # The load desks' endpoints (hundreds of them: generated, not kept as a file).
    (pbx_etc / load_desks.PJSIP_FILE).write_text(lane_text(load_desks.pjsip_config()))
    # Debian's own asterisk.conf with only the config directory changed: the PBX keeps the
    # standard run/spool/log dirs, so a plain `asterisk -rx` inside the root reaches it.
    # Debian marks its [directories] a template ("(!)"), which Asterisk ignores: drop that.
    pbx_conf = re.sub(r"^\[directories\]\(!\)", "[directories]", debian_conf, flags=re.M)
    pbx_conf = re.sub(r"^astetcdir\s*=>.*$", f"astetcdir => {pbx.etc_dir}", pbx_conf, flags=re.M)
    if suffix:
        # Another lane writes its own state: nothing of lane 0's run/spool/log/db dirs.
        for key, directory in (
            ("astspooldir", "/var/spool/asterisk"),
            ("astrundir", "/var/run/asterisk"),
            ("astlogdir", "/var/log/asterisk"),
            ("astdbdir", "/var/lib/asterisk"),
            ("astcachedir", "/var/cache/asterisk"),
        ):
            pbx_conf = re.sub(
                rf"^{key}\s*=>.*$", f"{key} => {directory}{suffix}", pbx_conf, flags=re.M
            )
    pbx_conf = re.sub(r"^\[options\]$", "[options]\n" + PBX_OPTIONS, pbx_conf, flags=re.M)
    (pbx_etc / "asterisk.conf").write_text(pbx_conf)
    (pbx_etc / "manager.d").mkdir()
    (pbx_etc / "manager.d" / "ivr-agent.conf").write_text(
        f"[{creds.ami_user}]\nsecret = {creds.ami_secret}\n"
        "deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\n"
        "read = call,agent,user,dtmf,reporting\nwrite = call,user\n"
        # Only the events the tracker consumes are sent to the agent (the AMI Filter action
        # would need the `system` class, which the agent's user must not have).
        + "".join(line + "\n" for line in eventfilter_lines(SUBSCRIBED_EVENTS))
    )
    (pbx_etc / "ari.d").mkdir()
    (pbx_etc / "ari.d" / "ivr-agent.conf").write_text(
        ari_user_section(creds.ari_user, creds.ari_secret)
    )

    phones_etc = _fresh_dir(root, phones.etc_dir)
    for entry in (resources.files("ivr_agent.sim") / "phones").iterdir():
        if entry.name.endswith(".conf"):
            text = lane_text(entry.read_text().replace("@MODDIR@", moddir))
            if suffix and entry.name == "asterisk.conf":
                text = re.sub(r"(/[\w/]*asterisk-phones)\b", rf"\g<1>{suffix}", text)
            (phones_etc / entry.name).write_text(text)
    (phones_etc / "ari.d").mkdir()
    (phones_etc / "ari.d" / "ivr-sim.conf").write_text(
        ari_user_section(creds.phones_ari_user, creds.phones_ari_secret)
    )

    for etc in (pbx_etc, phones_etc):
        for path in [etc, *etc.rglob("*")]:
            os.chown(path, 0, gid)
            os.chmod(path, 0o750 if path.is_dir() else 0o640)

    # Directories the instances write, owned by asterisk (recording/ must exist or ARI
    # recording fails with 500). /var/run is an absolute symlink to /run: never follow it
    # from outside the root, it would land on the host's /run.
    writable = [
        f"var/spool/asterisk{suffix}",
        f"var/spool/asterisk{suffix}/recording",
        f"var/spool/asterisk-phones{suffix}",
        f"var/spool/asterisk-phones{suffix}/recording",
        f"run/asterisk{suffix}",
        f"run/asterisk-phones{suffix}",
        f"var/log/asterisk{suffix}",
        f"var/log/asterisk-phones{suffix}",
        f"var/lib/asterisk-phones{suffix}",
        f"var/cache/asterisk-phones{suffix}",
    ]
    if suffix:
        writable += [f"var/lib/asterisk{suffix}", f"var/cache/asterisk{suffix}"]
    for relative in writable:
        path = root / relative
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, uid, gid)


def _fresh_dir(root: Path, inside: str) -> Path:
    path = root / inside.lstrip("/")
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path

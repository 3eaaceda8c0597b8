"""``ivr-agent sandbox``: a real Asterisk 22 PBX and a phones instance on this machine.

Theory of operation: a Debian sid root (:mod:`ivr_agent.sim.chroot`) is provisioned once and
kept under the data dir. Two Asterisk processes run in it, both bound to 127.0.0.1:

* the **PBX under test**, configured from ``docker/asterisk/`` plus the hooks in
  ``dialplans/`` (AMI 5038, ARI 8088, SIP 5060, RTP 10000-10999), and
* the **phones**, configured from this package's ``phones/`` (ARI 8089, SIP 5070,
  RTP 11000-11999), which the simulator drives to play callers, operators and customers.

Secrets are random, made on first provision and kept inside the root (with the pid files),
so a root shared by several checkouts (``IVR_AGENT_SANDBOX_ROOT``, e.g. a CI cache) keeps one
set of credentials and its running instances are found again; ``DATA_DIR/sandbox/agent.env``
holds the URLs the agent and the simulator use. Every operation takes a file lock beside the
root, so ``up`` and ``down`` never interleave. Requires root.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ivr_agent.core.events import SUBSCRIBED_EVENTS
from ivr_agent.pbx.ami import eventfilter_lines
from ivr_agent.settings import Settings
from ivr_agent.sim import chroot

#: Bump when the provisioning recipe changes: an older root is then completed, not reused.
RECIPE_VERSION = "2"
PACKAGES = (
    "asterisk",
    "asterisk-core-sounds-en",
    "asterisk-moh-opsound-gsm",
    "sox",
    "espeak-ng",
)
PBX_ETC = "/etc/asterisk-pbx"
#: Added to the sandbox PBX's pjsip.conf: a hold is passed on to the caller's phone (a
#: re-INVITE) instead of the PBX playing music on hold into the call. The simulator finds
#: what a caller hears by talk detection on the caller's own line, where music over the whole
#: hold would hide the agent's hold reminder; and a whisper mixed over the PBX's music on hold
#: was seen to leave later whispers on that channel silent (Asterisk 22.10, see the issue 5
#: report). The held operator's line keeps sending frames through the bridge.
SANDBOX_PJSIP_TRUNK = (
    "\n; Added by ivr-agent sandbox (see SANDBOX_PJSIP_TRUNK): the caller's phone handles hold.\n"
    "[trunk](+)\nmoh_passthrough = yes\n"
)
PHONES_ETC = "/etc/asterisk-phones"
PBX_ARI_APP = "ivr-agent"
PHONES_ARI_APP = "ivr-sim"
SOUNDS_DIR = "/usr/share/asterisk/sounds/ivr-agent"
SIM_SOUNDS_DIR = "/usr/share/asterisk/sounds/ivr-sim"

#: Prompts rendered with espeak-ng at provisioning: (directory, name, voice, text). The agent's
#: catalogue (and ``welcome``, the hook's fallback greeting) is installed by ``prompts build``
#: on every ``up`` instead: see :func:`_install_prompts`.
SOUNDS = (
    (
        SOUNDS_DIR,
        "callback-opening",
        "cmn",
        "您好,我是示例公司的客服代表,耽误您两分钟时间做一个回访可以吗?同意请按1,现在不方便请按2",
    ),
    (SOUNDS_DIR, "survey-skill", "cmn", "请为我们的服务技能打分,1到5分"),
    (SOUNDS_DIR, "survey-attitude", "cmn", "请为我们的服务态度打分"),
    (SOUNDS_DIR, "survey-timeliness", "cmn", "请为服务的及时性打分"),
    (SOUNDS_DIR, "survey-parts", "cmn", "请为配件供应打分"),
    (SOUNDS_DIR, "survey-overall", "cmn", "请为总体满意度打分"),
    (SOUNDS_DIR, "callback-closing", "cmn", "感谢您对我们工作的支持,祝您健康愉快!再见!"),
    (SIM_SOUNDS_DIR, "hello", "cmn", "喂,你好"),
    (SIM_SOUNDS_DIR, "question", "cmn", "我家的空调不制冷了,请派人来看看"),
    (SIM_SOUNDS_DIR, "thanks", "cmn", "好的,谢谢你,再见"),
    (SIM_SOUNDS_DIR, "yes", "cmn", "可以,你说吧"),
)

Progress = Callable[[str], None]


class SandboxError(RuntimeError):
    """The sandbox cannot do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class Instance:
    """One Asterisk process in the sandbox root."""

    name: str
    etc_dir: str
    http_port: int
    sip_port: int
    rtp_ports: tuple[int, int]
    ami_port: int | None = None

    @property
    def conf(self) -> str:
        """Its ``asterisk.conf`` inside the root (what ``-C`` gets)."""
        return f"{self.etc_dir}/asterisk.conf"


PBX = Instance(
    "pbx", PBX_ETC, http_port=8088, sip_port=5060, rtp_ports=(10000, 10999), ami_port=5038
)
PHONES = Instance("phones", PHONES_ETC, http_port=8089, sip_port=5070, rtp_ports=(11000, 11999))
INSTANCES = (PBX, PHONES)

#: Lanes 1..MAX_LANE are further PBX + phones pairs in the same root (lane 0 is the pair
#: above), so that several test processes each drive a PBX of their own at the same time:
#: an agent under test acts on every call of its PBX, so two of them cannot share one.
MAX_LANE = 8
#: Lane ``n`` moves the AMI/HTTP/SIP ports up by ``n * LANE_PORT_STEP`` and the RTP ranges
#: up by ``n * LANE_RTP_STEP`` (RTP 10000-10999/11000-11999 for lane 0, 12000-… for lane 1).
LANE_PORT_STEP = 100
LANE_RTP_STEP = 2000


def lane_instances(lane: int) -> tuple[Instance, Instance]:
    """The (PBX, phones) pair of ``lane``: lane 0 is :data:`PBX`, :data:`PHONES`."""
    if not 0 <= lane <= MAX_LANE:
        raise SandboxError(f"sandbox lane must be from 0 to {MAX_LANE}, not {lane}")
    if lane == 0:
        return PBX, PHONES
    suffix, port, rtp = f"-lane{lane}", LANE_PORT_STEP * lane, LANE_RTP_STEP * lane

    def moved(instance: Instance) -> Instance:
        return dataclasses.replace(
            instance,
            name=instance.name + suffix,
            etc_dir=instance.etc_dir + suffix,
            http_port=instance.http_port + port,
            sip_port=instance.sip_port + port,
            rtp_ports=(instance.rtp_ports[0] + rtp, instance.rtp_ports[1] + rtp),
            ami_port=None if instance.ami_port is None else instance.ami_port + port,
        )

    return moved(PBX), moved(PHONES)


def _for_lane(text: str, pbx: Instance, phones: Instance) -> str:
    """A configuration file of lane 0 rewritten for the lane of ``pbx``/``phones``: every
    port of lane 0 (addresses, binds, RTP ranges) becomes the lane's."""
    if pbx is PBX:
        return text
    addresses = {
        PBX.sip_port: pbx.sip_port,
        PHONES.sip_port: phones.sip_port,
        PBX.http_port: pbx.http_port,
        PHONES.http_port: phones.http_port,
    }
    for old, new in addresses.items():
        text = re.sub(rf"127\.0\.0\.1:{old}\b", f"127.0.0.1:{new}", text)
    settings: dict[tuple[str, int | None], int | None] = {
        ("bindport", PBX.http_port): pbx.http_port,
        ("bindport", PHONES.http_port): phones.http_port,
        ("port", PBX.ami_port): pbx.ami_port,
        ("rtpstart", PBX.rtp_ports[0]): pbx.rtp_ports[0],
        ("rtpend", PBX.rtp_ports[1]): pbx.rtp_ports[1],
        ("rtpstart", PHONES.rtp_ports[0]): phones.rtp_ports[0],
        ("rtpend", PHONES.rtp_ports[1]): phones.rtp_ports[1],
    }
    for (key, was), becomes in settings.items():
        text = re.sub(rf"^({key}\s*=\s*){was}\b", rf"\g<1>{becomes}", text, flags=re.M)
    return text


@dataclass(frozen=True)
class Credentials:
    """Users and random secrets of the sandbox; made once, reused on every ``up``."""

    ami_user: str
    ami_secret: str
    ari_user: str
    ari_secret: str
    phones_ari_user: str
    phones_ari_secret: str
    #: Where the PBX plays the agent's prompts from, seen from the host (not saved: it follows
    #: the root, which may be shared by several checkouts).
    prompts_dir: str | None = None
    #: The lane whose ports :meth:`env` gives (not saved: one set of secrets for all lanes).
    lane: int = 0

    @classmethod
    def generate(cls) -> Credentials:
        """New random secrets (URL-safe, so they sit in URLs unquoted)."""
        return cls(
            ami_user="ivr-agent",
            ami_secret=secrets.token_urlsafe(24),
            ari_user="ivr-agent",
            ari_secret=secrets.token_urlsafe(24),
            phones_ari_user="ivr-sim",
            phones_ari_secret=secrets.token_urlsafe(24),
        )

    def env(self) -> dict[str, str]:
        """The ``agent.env`` lines: what ivr-agent and the simulator connect with."""
        pbx, phones = lane_instances(self.lane)
        return {
            "IVR_AGENT_AMI_URL": f"ami://{self.ami_user}:{self.ami_secret}@127.0.0.1:{pbx.ami_port}",
            "IVR_AGENT_ARI_URL": f"http://{self.ari_user}:{self.ari_secret}@127.0.0.1:{pbx.http_port}",
            "IVR_AGENT_ARI_APP": PBX_ARI_APP,
            "IVR_AGENT_CALLBACK_DIAL": "PJSIP/{number}@trunk",
            "IVR_AGENT_SIM_ARI_URL": (
                f"http://{self.phones_ari_user}:{self.phones_ari_secret}"
                f"@127.0.0.1:{phones.http_port}"
            ),
            **({"IVR_AGENT_PROMPTS_DIR": self.prompts_dir} if self.prompts_dir else {}),
        }


@dataclass(frozen=True)
class Sandbox:
    """Where the sandbox lives: the Debian root and the state directory beside it."""

    root: Path
    state_dir: Path
    repo_dir: Path
    #: Which PBX + phones pair of the root this is (:func:`lane_instances`).
    lane: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Sandbox:
        """The sandbox of these settings (``sandbox_root``, else ``DATA_DIR/sandbox/root``;
        the pair of instances ``sandbox_lane``)."""
        lane = settings.sandbox_lane
        lane_instances(lane)  # refuses a lane out of range
        state = (settings.data_dir / "sandbox").absolute()
        root = (settings.sandbox_root or state / "root").absolute()
        return cls(root=root, state_dir=state, repo_dir=find_repo_dir(), lane=lane)

    @property
    def pbx(self) -> Instance:
        """The PBX under test of this lane."""
        return lane_instances(self.lane)[0]

    @property
    def phones(self) -> Instance:
        """The phones instance of this lane."""
        return lane_instances(self.lane)[1]

    @property
    def instances(self) -> tuple[Instance, Instance]:
        """Both instances of this lane, PBX first."""
        return lane_instances(self.lane)

    @property
    def _suffix(self) -> str:
        return f"-lane{self.lane}" if self.lane else ""

    @property
    def credentials_file(self) -> Path:
        """``agent.env``: the URLs (with secrets) of the sandbox, mode 0600."""
        return self.state_dir / f"agent{self._suffix}.env"

    @property
    def pbx_recording_dir(self) -> Path:
        """Where the lane's PBX writes recordings (seen from the host)."""
        return self.root / "var" / "spool" / f"asterisk{self._suffix}" / "recording"

    @property
    def marker(self) -> Path:
        """Written when provisioning completed: its content is the recipe version."""
        return self.root / ".ivr-agent-provisioned"

    def provisioned(self) -> bool:
        """Whether the root holds a complete install of the current recipe."""
        try:
            return self.marker.read_text().strip() == RECIPE_VERSION
        except OSError:
            return False

    @property
    def meta_dir(self) -> Path:
        """Inside the root: secrets and pid files, which belong to the root, not a checkout."""
        return self.root / "var" / "lib" / "ivr-agent-sandbox"

    def pid_file(self, instance: Instance) -> Path:
        """Pid of the instance's Asterisk, as started by ``up``."""
        return self.meta_dir / f"{instance.name}.pid"

    def console_log(self, instance: Instance) -> Path:
        """Where the instance's stdout/stderr go."""
        return self.state_dir / f"{instance.name}.console.log"


def find_repo_dir() -> Path:
    """The source tree holding ``docker/asterisk`` and ``dialplans`` (the PBX's config)."""
    candidates = [Path(__file__).resolve().parents[3], Path.cwd()]
    for candidate in candidates:
        if (candidate / "docker" / "asterisk" / "pjsip.conf").is_file():
            return candidate
    raise SandboxError(
        "docker/asterisk/ not found: run ivr-agent sandbox from the ivr-agent source tree"
    )


def require_root() -> None:
    """Raise :class:`SandboxError` unless running as root (chroot and mount need it)."""
    if os.geteuid() != 0:
        raise SandboxError(
            "ivr-agent sandbox needs root (it uses debootstrap, chroot and mount); "
            "run it with sudo or as root"
        )


@contextlib.contextmanager
def _locked(sandbox: Sandbox) -> Iterator[None]:
    sandbox.state_dir.mkdir(parents=True, exist_ok=True)
    sandbox.root.parent.mkdir(parents=True, exist_ok=True)
    with (sandbox.root.parent / f".{sandbox.root.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- provisioning ----------------------------------------------------------------------------


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


def _install_prompts(sandbox: Sandbox, progress: Progress) -> None:
    """``prompts build`` into the root, where ``sound:ivr-agent/…`` resolves for the PBX.

    On every ``up``: cheap when nothing changed (cache), and a changed catalogue reaches a
    running PBX without a restart. Uses the host's espeak-ng and sox and the environment's
    settings (company, operator ids, catalogue override), as an agent started beside it would.
    """
    from ivr_agent.prompts.build import build_prompts
    from ivr_agent.prompts.catalogue import PromptCatalogue
    from ivr_agent.prompts.render import RenderError
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
    _write_private(path, json.dumps(saved, indent=2) + "\n")
    return dataclasses.replace(creds, prompts_dir=prompts_dir, lane=sandbox.lane)


def _write_private(path: Path, text: str) -> None:
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


def _crypt(password: str) -> tuple[str, str]:
    """(password, format) for ari.conf: SHA-512 crypt when openssl is there, else plain."""
    if shutil.which("openssl"):
        done = subprocess.run(
            ["openssl", "passwd", "-6", "-stdin"],
            input=password,
            capture_output=True,
            text=True,
        )
        if done.returncode == 0 and done.stdout.startswith("$6$"):
            return done.stdout.strip(), "crypt"
    return password, "plain"


def _ari_user(user: str, password: str) -> str:
    hashed, fmt = _crypt(password)
    return f"[{user}]\ntype = user\nread_only = no\npassword = {hashed}\npassword_format = {fmt}\n"


#: This module as imported: what the running process's :func:`configure` writes.
_THIS_MODULE = Path(__file__).read_bytes()


def config_digest(sandbox: Sandbox) -> str:
    """Digest of everything :func:`configure` writes from: the config files and this module."""
    digest = hashlib.sha256(RECIPE_VERSION.encode())
    sources = [
        *sorted((sandbox.repo_dir / "docker" / "asterisk").glob("*.conf")),
        *sorted((sandbox.repo_dir / "dialplans").glob("*.conf")),
    ]
    digest.update(_THIS_MODULE)
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
    suffix = sandbox._suffix
    uid, gid = _asterisk_ids(root)
    debian_conf = (root / "etc/asterisk/asterisk.conf").read_text()
    moddir_match = re.search(r"^astmoddir\s*=>\s*(\S+)", debian_conf, re.M)
    moddir = moddir_match.group(1) if moddir_match else "/usr/lib/asterisk/modules"

    def lane_text(text: str) -> str:
        return _for_lane(text, pbx, phones)

    pbx_etc = _fresh_dir(root, pbx.etc_dir)
    for source in sorted((sandbox.repo_dir / "docker" / "asterisk").glob("*.conf")):
        (pbx_etc / source.name).write_text(lane_text(source.read_text()))
    with (pbx_etc / "pjsip.conf").open("a") as pjsip:
        pjsip.write(SANDBOX_PJSIP_TRUNK)
    # The hooks sit beside extensions.conf, as the Docker image installs them.
    for source in sorted((sandbox.repo_dir / "dialplans").glob("*.conf")):
        shutil.copyfile(source, pbx_etc / source.name)
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
    # Send silence while a channel waits (Read(), queue without music): the far end keeps
    # receiving frames, which its talk detection needs to notice that a prompt ended.
    pbx_conf = re.sub(r"^\[options\]$", "[options]\ntransmit_silence = yes", pbx_conf, flags=re.M)
    (pbx_etc / "asterisk.conf").write_text(pbx_conf)
    (pbx_etc / "manager.d").mkdir()
    (pbx_etc / "manager.d" / "ivr-agent.conf").write_text(
        f"[{creds.ami_user}]\nsecret = {creds.ami_secret}\n"
        "deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\n"
        "read = call,agent,user,dtmf,reporting\nwrite = originate,call,user\n"
        # Only the events the tracker consumes are sent to the agent (the AMI Filter action
        # would need the `system` class, which the agent's user must not have).
        + "".join(line + "\n" for line in eventfilter_lines(SUBSCRIBED_EVENTS))
    )
    (pbx_etc / "ari.d").mkdir()
    (pbx_etc / "ari.d" / "ivr-agent.conf").write_text(_ari_user(creds.ari_user, creds.ari_secret))

    phones_etc = _fresh_dir(root, phones.etc_dir)
    for entry in (resources.files("ivr_agent.sim") / "phones").iterdir():
        if entry.name.endswith(".conf"):
            text = lane_text(entry.read_text().replace("@MODDIR@", moddir))
            if suffix and entry.name == "asterisk.conf":
                text = re.sub(r"(/[\w/]*asterisk-phones)\b", rf"\g<1>{suffix}", text)
            (phones_etc / entry.name).write_text(text)
    (phones_etc / "ari.d").mkdir()
    (phones_etc / "ari.d" / "ivr-sim.conf").write_text(
        _ari_user(creds.phones_ari_user, creds.phones_ari_secret)
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


# --- running ---------------------------------------------------------------------------------


def _cli(sandbox: Sandbox, instance: Instance, command: str, timeout: float = 10.0) -> str | None:
    """Output of ``asterisk -rx command`` on the instance, or None when it does not answer."""
    try:
        done = subprocess.run(
            ["chroot", str(sandbox.root), "asterisk", "-C", instance.conf, "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    return done.stdout


def cli(sandbox: Sandbox, instance: Instance, command: str, timeout: float = 10.0) -> str:
    """Run an Asterisk CLI command on a running instance; raise if it does not answer."""
    out = _cli(sandbox, instance, command, timeout)
    if out is None:
        raise SandboxError(f"the {instance.name} instance does not answer `{command}`")
    return out


def version(sandbox: Sandbox, instance: Instance) -> str | None:
    """``core show version`` of the instance, or None when it is not running."""
    out = _cli(sandbox, instance, "core show version", timeout=5.0)
    if not out or not out.startswith("Asterisk"):
        return None
    # "Asterisk 22.10.1+dfsg… built by nobody @ buildd… on …": the build blurb is noise.
    return out.strip().split(" built by ", 1)[0]


def _running_pid(sandbox: Sandbox, instance: Instance) -> int | None:
    try:
        pid = int(sandbox.pid_file(instance).read_text())
    except (OSError, ValueError):
        pid = 0
    if pid and chroot.pid_alive(pid) and pid in chroot.processes_in(sandbox.root):
        # (The pid file may name a process of another root sharing these files, e.g. a
        # bind mount of this one, or a pid reused since: only ours counts.)
        return pid
    if not sandbox.root.exists():
        return None
    # No (valid) pid file: look for the instance among the root's processes all the same.
    for candidate in chroot.processes_in(sandbox.root):
        try:
            argv = Path(f"/proc/{candidate}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-C" in argv and instance.conf.encode() in argv and b"-rx" not in argv:
            sandbox.meta_dir.mkdir(parents=True, exist_ok=True)
            sandbox.pid_file(instance).write_text(f"{candidate}\n")
            return candidate
    return None


def _start(sandbox: Sandbox, instance: Instance) -> int:
    log = sandbox.console_log(instance).open("ab")
    argv = [
        "chroot",
        str(sandbox.root),
        "asterisk",
        "-f",
        "-U",
        "asterisk",
        "-G",
        "asterisk",
        "-C",
        instance.conf,
    ]
    # Its own session: it outlives this command and a Ctrl-C in this terminal.
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    sandbox.meta_dir.mkdir(parents=True, exist_ok=True)
    sandbox.pid_file(instance).write_text(f"{process.pid}\n")
    return process.pid


def _wait_ready(sandbox: Sandbox, instance: Instance, pid: int, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not chroot.pid_alive(pid):
            tail = sandbox.console_log(instance).read_text(errors="replace")[-2000:]
            raise SandboxError(f"the {instance.name} Asterisk exited at start:\n{tail}")
        if _cli(sandbox, instance, "core waitfullybooted", timeout=5.0) is not None:
            found = version(sandbox, instance)
            if found:
                return found
        time.sleep(0.3)
    raise SandboxError(f"the {instance.name} Asterisk did not answer within {timeout:.0f} s")


def _wait_ari(url: str, user: str, password: str, timeout: float = 20.0) -> None:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})  # noqa: S310
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=3) as reply:  # noqa: S310 - local URL
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            if time.monotonic() > deadline:
                raise SandboxError(f"ARI at {url} does not answer: {exc}") from None
        time.sleep(0.3)


def up(sandbox: Sandbox, progress: Progress) -> dict[str, Any]:
    """Provision if needed, configure, start both instances, wait until they answer.

    Idempotent: instances already running are left as they are. Returns :func:`status`.
    """
    require_root()
    with _locked(sandbox):
        provision(sandbox, progress)
        chroot.mount_system(sandbox.root)
        _install_prompts(sandbox, progress)
        had_secrets = (sandbox.meta_dir / "secrets.json").exists()
        creds = load_credentials(sandbox)
        if not had_secrets:
            # Instances running without our secrets (an older layout) would refuse them.
            for instance in sandbox.instances:
                _stop(sandbox, instance, progress)
        # Always (re)written: this checkout may be adopting instances another one started.
        _write_private(
            sandbox.credentials_file, "".join(f"{k}={v}\n" for k, v in creds.env().items())
        )
        running = {i.name: _running_pid(sandbox, i) for i in sandbox.instances}
        digest = config_digest(sandbox)
        marker = sandbox.meta_dir / f"config{sandbox._suffix}.sha256"
        applied = marker.read_text().strip() if marker.exists() else None
        if all(running.values()) and applied != digest:
            # Running on an older configuration: a config edit must not wait for someone
            # to run `sandbox down` by hand.
            progress("configuration changed since the instances started: restarting them")
            for instance in sandbox.instances:
                _stop(sandbox, instance, progress)
            running = dict.fromkeys(running)
        if not all(running.values()):
            configure(sandbox, creds)
            marker.write_text(digest + "\n")
        for instance in sandbox.instances:
            if running[instance.name]:
                progress(f"{instance.name}: already running (pid {running[instance.name]})")
                continue
            started = time.monotonic()
            pid = _start(sandbox, instance)
            found = _wait_ready(sandbox, instance, pid)
            progress(
                f"{instance.name}: {found} (pid {pid}, up in {time.monotonic() - started:.1f} s)"
            )
        _wait_ari(
            f"http://127.0.0.1:{sandbox.pbx.http_port}/ari/asterisk/info",
            creds.ari_user,
            creds.ari_secret,
        )
        _wait_ari(
            f"http://127.0.0.1:{sandbox.phones.http_port}/ari/asterisk/info",
            creds.phones_ari_user,
            creds.phones_ari_secret,
        )
        return _status(sandbox)


def _stop(sandbox: Sandbox, instance: Instance, progress: Progress) -> None:
    pid = _running_pid(sandbox, instance)
    if pid is None:
        return
    _cli(sandbox, instance, "core stop now", timeout=10.0)
    deadline = time.monotonic() + 10.0
    while chroot.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if chroot.pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    sandbox.pid_file(instance).unlink(missing_ok=True)
    progress(f"{instance.name}: stopped (pid {pid})")


def down(sandbox: Sandbox, progress: Progress) -> dict[str, Any]:
    """Stop every lane's instances and everything else in the root, unmount everything
    below it.

    Raises :class:`SandboxError` if a process or a mount is left behind.
    """
    require_root()
    with _locked(sandbox):
        for instance in _all_lanes():
            _stop(sandbox, instance, progress)
        survivors = chroot.kill_all_in(sandbox.root) if sandbox.root.exists() else []
        for instance in _all_lanes():
            sandbox.pid_file(instance).unlink(missing_ok=True)
        left = chroot.unmount_all(sandbox.root) if sandbox.root.exists() else []
        if survivors or left:
            raise SandboxError(f"left behind: processes {survivors}, mounts {left}")
        progress("sandbox down: no process and no mount left")
        return _status(sandbox)


def status(sandbox: Sandbox) -> dict[str, Any]:
    """What runs where: provisioned?, mounts, each instance's pid, version and ports."""
    require_root()
    with _locked(sandbox):
        return _status(sandbox)


def _status(sandbox: Sandbox) -> dict[str, Any]:
    instances = {}
    for instance in sandbox.instances:
        pid = _running_pid(sandbox, instance)
        instances[instance.name] = {
            "running": pid is not None,
            "pid": pid,
            "version": version(sandbox, instance) if pid else None,
            "config": f"{sandbox.root}{instance.etc_dir}",
            "ports": {
                "ami": instance.ami_port,
                "http_ari": instance.http_port,
                "sip_udp": instance.sip_port,
                "rtp": f"{instance.rtp_ports[0]}-{instance.rtp_ports[1]}",
            },
        }
    root_exists = sandbox.root.exists()
    return {
        "root": str(sandbox.root),
        "provisioned": sandbox.provisioned(),
        "mounts": [str(p) for p in chroot.mounts_under(sandbox.root)] if root_exists else [],
        "processes": chroot.processes_in(sandbox.root) if root_exists else [],
        "credentials_file": str(sandbox.credentials_file),
        "instances": instances,
    }


def _all_lanes() -> list[Instance]:
    return [i for lane in range(MAX_LANE + 1) for i in lane_instances(lane)]


def hang_up_all(sandbox: Sandbox) -> int:
    """Hang up every channel of the lane's PBX and phones; return how many there were.

    A run that was interrupted can leave callers queued on the PBX, where they would sit
    ahead of the next run's callers (the sandbox queue waits up to 600 s); tests start from
    an idle PBX with this.
    """
    ended = 0
    for instance in sandbox.instances:
        out = cli(sandbox, instance, "channel request hangup all")
        ended += sum(1 for line in out.splitlines() if line.startswith("Requested Hangup"))
    return ended

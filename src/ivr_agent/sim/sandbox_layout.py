"""Where the sandbox lives and what runs in it: the Debian root, the instances of each lane,
their ports and the credentials the agent and the simulator connect with (no side effects).

Lane 0 is one PBX under test and one phones instance. Lanes 1..:data:`MAX_LANE` are more
such pairs in the same root, each on ports of its own (:func:`lane_instances`), so that test
processes run side by side, each with a PBX of its own (``IVR_AGENT_SANDBOX_LANE``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ivr_agent.settings import Settings

#: Bump when the provisioning recipe changes: an older root is then completed, not reused.
RECIPE_VERSION = "3"
#: apt-get install arguments. Music on hold is the WAV (slin) package: over Debian's GSM
#: files a whispered prompt around a hold was lost on Asterisk 22.10 (the reminder during the
#: hold or the apology after it, one of the two in each of 7 holds; none in 6 holds over
#: WAV), so the GSM package an older root had is removed (the trailing "-").
PACKAGES = (
    "asterisk",
    "asterisk-core-sounds-en",
    "asterisk-moh-opsound-wav",
    "asterisk-moh-opsound-gsm-",
    "sox",
    "espeak-ng",
)
PBX_ETC = "/etc/asterisk-pbx"
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


#: 1,500 RTP ports each: 750 RTP sessions, two per call on each side (the caller's leg and
#: the desk's), so about 375 calls at once. With 1,000 a load run past the PBX's saturation
#: (calls piling up beyond 250) had calls refused for want of a port (benchmarks/README.md).
PBX = Instance(
    "pbx", PBX_ETC, http_port=8088, sip_port=5060, rtp_ports=(10000, 11499), ami_port=5038
)
PHONES = Instance("phones", PHONES_ETC, http_port=8089, sip_port=5070, rtp_ports=(11500, 12999))
INSTANCES = (PBX, PHONES)

#: Lanes 1..MAX_LANE are further PBX + phones pairs in the same root (lane 0 is the pair
#: above), so that several test processes each drive a PBX of their own at the same time:
#: an agent under test acts on every call of its PBX, so two of them cannot share one.
#: Lanes 0..:data:`WORKER_LANES` - 1 are the test processes' own; the rest are their
#: partners (:func:`partner_lane`).
MAX_LANE = 17
#: The lanes a test process may drive as its own (``IVR_AGENT_SANDBOX_LANE``; pytest-xdist
#: worker gwN takes lane N).
WORKER_LANES = 9
#: A test process's second PBX (the two-PBX tests) is its lane + this: lanes 9..17, which
#: no test process drives as its own, so partners never meet another worker's PBX.
PARTNER_LANE_STEP = WORKER_LANES
#: Lane ``n`` moves the AMI/HTTP/SIP ports up by ``n * LANE_PORT_STEP`` and the RTP ranges
#: up by ``n * LANE_RTP_STEP`` (RTP 10000-11499/11500-12999 for lane 0, 13000-… for lane 1;
#: lane 17 ends at 63999).
LANE_PORT_STEP = 100
LANE_RTP_STEP = 3000


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


def partner_lane(lane: int, configured: int | None = None) -> int:
    """The lane of the second PBX of the test process driving ``lane``: ``configured``
    (``IVR_AGENT_SANDBOX_PARTNER_LANE``) if set, else ``lane`` + :data:`PARTNER_LANE_STEP`.
    :class:`SandboxError` if it is ``lane`` itself or out of range."""
    partner = lane + PARTNER_LANE_STEP if configured is None else configured
    if partner == lane:
        raise SandboxError(f"the partner lane must differ from the lane itself ({lane})")
    lane_instances(partner)  # refuses a lane out of range
    return partner


def for_lane(text: str, pbx: Instance, phones: Instance) -> str:
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
    def suffix(self) -> str:
        """What the lane's names and directories end with: empty for lane 0, ``-laneN``."""
        return f"-lane{self.lane}" if self.lane else ""

    @property
    def credentials_file(self) -> Path:
        """``agent.env``: the URLs (with secrets) of the sandbox, mode 0600."""
        return self.state_dir / f"agent{self.suffix}.env"

    @property
    def pbx_recording_dir(self) -> Path:
        """Where the lane's PBX writes recordings (seen from the host)."""
        return self.root / "var" / "spool" / f"asterisk{self.suffix}" / "recording"

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
    """The source tree holding ``docker/asterisk`` (the PBX's config; the dialplan hooks are
    package data, :mod:`ivr_agent.share`)."""
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

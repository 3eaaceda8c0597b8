"""All configuration of ivr-agent, read from the environment (prefix ``IVR_AGENT_``).

This is the only module that reads the environment. Every number of the service
standards (``STANDARDS.md`` S1–S7) is a setting here, with the handbook value as the
default. Invalid values fail at start-up with :class:`SettingsError`, whose message names
the environment variable and what is allowed; values of secret settings are never echoed.
The settings' value types and their parsers are in :mod:`ivr_agent.setting_types`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ivr_agent.core.ids import DEFAULT_PBX_ID, PBX_ID
from ivr_agent.setting_types import (
    AmiEndpoint,
    AriEndpoint,
    BaseUrl,
    DatabaseUrl,
    DialplanName,
    DialTemplate,
    EmailAddress,
    EmailAddresses,
    Endpoint,
    HostPort,
    Hotline,
    Listen,
    Names,
    OperatorIds,
    Regex,
    Seconds,
    SmtpHost,
    SpecialistDial,
    TimeWindow,
    TimeZoneName,
    UiLanguages,
    WebhookSecret,
    Weekdays,
    Windows,
    parse_time_windows,
    parse_weekdays,
)

# Endpoint, HostPort and TimeWindow are re-exported: callers take them from here.
__all__ = [
    "ENV_PREFIX",
    "SECRET_FIELDS",
    "Endpoint",
    "HostPort",
    "Settings",
    "SettingsError",
    "SystemdEnvironment",
    "TimeWindow",
    "env_name",
    "load_settings",
    "systemd_environment",
]

ENV_PREFIX = "IVR_AGENT_"
#: Where prompts are rendered with directory delivery unless IVR_AGENT_PROMPTS_DIR says:
#: Debian's Asterisk sounds, where sound:ivr-agent/… resolves.
DIRECTORY_PROMPTS_DIR = Path("/usr/share/asterisk/sounds/ivr-agent")
#: Listen addresses that mean "every address": no URL to give the PBX.
UNSPECIFIED_HOSTS = frozenset({"0.0.0.0", "::", "", "*"})  # noqa: S104 - compared, not bound


class SettingsError(ValueError):
    """Raised when the environment holds an invalid setting; the message names the variable."""


#: Settings whose values must never be echoed in errors, logs or repr.
SECRET_FIELDS = frozenset({"database_url", "ami_url", "ari_url", "smtp_password", "webhook_secret"})
#: The port of each IVR_AGENT_SMTP_TLS mode when IVR_AGENT_SMTP_PORT is unset.
SMTP_DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
#: The figures an operator's overall assessment score may weigh: each 0–1, higher better
#: (the QA average, 1–5, is divided by 5).
ASSESSMENT_SCORE_FIGURES = (
    "service_level",
    "answer_rate",
    "within_target_duration_rate",
    "satisfaction_rate",
    "qa_satisfaction_index",
)
_WEIGHT = rf"({'|'.join(ASSESSMENT_SCORE_FIGURES)})=[0-9]+(\.[0-9]+)?"


class Settings(BaseSettings):
    """Every setting of ivr-agent. Environment variable = ``IVR_AGENT_`` + upper-case name."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="ignore",
        validate_default=True,
    )

    # --- connections -------------------------------------------------------------------
    database_url: DatabaseUrl = Field(
        None,
        description="PostgreSQL URL (postgresql+asyncpg://…). Unset: an embedded PostgreSQL "
        "(pgserver) is started under DATA_DIR/postgres and stopped on exit.",
    )
    ami_url: AmiEndpoint | None = Field(
        None, description="Asterisk Manager Interface, ami://user:secret@host:5038. Unset: no AMI."
    )
    ari_url: AriEndpoint | None = Field(
        None, description="Asterisk REST Interface, http://user:secret@host:8088. Unset: no ARI."
    )
    ari_app: str = Field(
        "ivr-agent", pattern=r"^[A-Za-z0-9_\-]{1,64}$", description="Stasis application name."
    )
    ari_timeout_seconds: float = Field(
        3.0, gt=0, le=60, description="Timeout of every ARI request (seconds)."
    )
    prompt_max_seconds: float = Field(
        60.0,
        gt=0,
        le=600,
        description="Longest a whispered prompt may play before it is stopped (seconds).",
    )
    pbx_id: str = Field(
        DEFAULT_PBX_ID,
        pattern=f"^{PBX_ID.pattern}$",
        description="Names this PBX in stored rows, so several PBXs can share one database.",
    )
    leader_election: bool = Field(
        False,
        description="Several agents per PBX: the one holding a PostgreSQL lock for PBX_ID acts, "
        "the others stand by and take over when it dies (off: this agent always acts).",
    )
    leader_poll_seconds: float = Field(
        1.0,
        ge=0.1,
        le=5,
        description="How often a standby tries for the leadership and the leader checks it "
        "still holds it (seconds).",
    )
    http_listen: Listen = Field(
        HostPort("127.0.0.1", 8080), description="HOST:PORT of the web API and dashboard."
    )
    data_dir: Path = Field(
        Path("./var"), description="Where the embedded database, recordings and spool live."
    )
    sandbox_root: Path | None = Field(
        None,
        description="Debian root of `ivr-agent sandbox` (default DATA_DIR/sandbox/root).",
    )
    sandbox_lane: int = Field(
        0,
        ge=0,
        le=17,
        description="Which PBX + phones pair of the sandbox `sandbox`, `simulate` and `demo` "
        "use (0-17): lane N has every port N*100 higher, so test runs can each drive their "
        "own (0-8; 9-17 are their partner lanes).",
    )
    sandbox_partner_lane: int | None = Field(
        None,
        ge=0,
        le=17,
        description="The lane of the second PBX the two-PBX sandbox tests drive (unset: "
        "SANDBOX_LANE + 9, a lane no test process drives as its own).",
    )
    callback_dial: DialTemplate = Field(
        "PJSIP/{number}@trunk",
        description="Asterisk dial string for callbacks; {number} is the customer's number.",
    )
    auto_migrate: bool = Field(
        True, description="`ivr-agent run` upgrades the database schema to head on start."
    )
    metrics_public: bool = Field(
        True, description="Serve /metrics without a token (false: needs an ops token)."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: readable on a terminal, JSON lines otherwise."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severe level written to the log."
    )
    timezone: TimeZoneName = Field(
        "Asia/Shanghai", description="Local time of the call centre (windows, hours, per-day)."
    )
    ui_languages: UiLanguages = Field(
        ("zh-CN", "en-US"),
        description="Languages of the dashboard and QA pages (zh-CN, en-US), comma list: the "
        "browser's Accept-Language picks one of them, the first when it names none; one "
        "language alone fixes it.",
    )

    # --- S1 answer within three rings --------------------------------------------------
    ring_cycle_seconds: Seconds = Field(
        5.0, description="Length of one ringback cycle (cn 5 s, us 6 s, uk 3 s)."
    )
    max_rings: int = Field(3, ge=1, le=20, description="Answered within standard: < N cycles.")
    apology_min_rings: int = Field(
        5, ge=1, le=50, description="From this many rings the caller hears an apology first."
    )
    short_abandon_seconds: float = Field(
        5.0, ge=0, le=600, description="Abandoned within this many seconds = short abandon."
    )
    exclude_short_abandons: bool = Field(
        True, description="Leave short abandons out of service level and answer rate."
    )
    service_level_target: float = Field(
        0.9, gt=0, le=1, description="Target shown on the dashboard (fraction)."
    )

    # --- S2 hold -----------------------------------------------------------------------
    hold_reminder_seconds: Seconds = Field(10.0, description="Hold reminder after this long.")
    hold_reminder_repeat_seconds: Seconds = Field(
        20.0, description="Repeat the hold reminder this often while the hold lasts."
    )
    hold_severe_seconds: Seconds = Field(60.0, description="A hold over this is a severe breach.")

    # --- S3 silent caller ----------------------------------------------------------------
    silence_prompt_seconds: Seconds = Field(
        5.0, description="Caller silent this long after the greeting: first prompt."
    )
    silence_hangup_seconds: Seconds = Field(
        5.0, description="Still silent this long after the first prompt: last prompt, hang up."
    )

    # --- S4 prompts ----------------------------------------------------------------------
    company: str = Field(
        "示例公司",
        min_length=1,
        max_length=64,
        description="Company name spoken in greetings ({company}).",
    )
    department: str = Field(
        "客服部",
        min_length=1,
        max_length=64,
        description="Department named to internal callers ({department}).",
    )
    hotline: Hotline = Field(
        None,
        description=(
            "The service hotline number the callback closing gives ({hotline}, spoken digit by "
            "digit), e.g. 400-800-8888; unset: the closing names no number."
        ),
    )
    suggestion_max_seconds: float = Field(
        60.0,
        ge=0,
        le=600,
        description=(
            "Longest spoken suggestion a caller may leave after pressing 2 at the "
            "satisfaction question (recorded with the call); 0: no suggestions are taken."
        ),
    )
    suggestion_silence_seconds: float = Field(
        5.0,
        ge=1,
        le=60,
        description="Silence that ends a caller's spoken suggestion.",
    )
    prompt_language: Literal["zh-CN", "en-US"] = Field(
        "zh-CN", description="Language of the scripted prompts (catalogue entry)."
    )
    prompts_disabled: Names = Field(
        frozenset(), description="Comma-separated prompt names the agent must not play."
    )
    operator_ids: OperatorIds = Field(
        tuple(f"{n:03d}" for n in range(1, 11)),
        description="Operator ids whose 工号播报 prompts are rendered.",
    )
    prompts_delivery: Literal["http", "directory"] = Field(
        "http",
        description="How the PBX gets the prompt files. http: it fetches them from this "
        "agent's /prompts/ route at PROMPTS_URL (no shared directory; the PBX may be on "
        "another host). directory: it plays them from its own sounds directory, which must be "
        "PROMPTS_DIR (same host or shared), as sound:PROMPTS_MEDIA_PREFIX/….",
    )
    prompts_url: BaseUrl = Field(
        None,
        description="http delivery: the base URL at which the PBX reaches this agent's HTTP "
        "server, e.g. http://10.0.0.5:8080. Default: http://HTTP_LISTEN, unless that listens "
        "on every address (0.0.0.0, ::), which names no address to reach.",
    )
    prompts_dir: Path = Field(
        default_factory=lambda data: _default_prompts_dir(data),
        description="Directory `ivr-agent prompts build` and on-demand renders write the prompt "
        "files to (<language>/<name>.wav). Default: DATA_DIR/prompts with http delivery, "
        "/usr/share/asterisk/sounds/ivr-agent (the PBX's sounds) with directory delivery.",
    )
    prompts_media_prefix: str = Field(
        "ivr-agent",
        pattern=r"^[A-Za-z0-9_\-]{1,64}(/[A-Za-z0-9_\-]{1,64})*$",
        description="directory delivery: sound path of PROMPTS_DIR as the PBX sees it (under "
        "its sounds directory).",
    )
    prompts_catalogue: Path | None = Field(
        None,
        description="A prompt catalogue TOML replacing the built-in one (same format).",
    )
    prompts_voices_dir: Path | None = Field(
        None,
        description="Recorded human voice files, <language>/<name>.wav, used instead of TTS "
        "(default DATA_DIR/voices).",
    )
    internal_caller_pattern: Regex = Field(
        r"[0-9]{3,6}",
        max_length=200,
        description="Caller numbers matching this regular expression (whole number) are "
        "internal: greeting_internal. The hook argument internal|external overrides it.",
    )
    satisfaction_timeout_seconds: Seconds = Field(
        5.0,
        description="After the satisfaction question ends, wait this long for key 1 or 2.",
    )

    # --- S5 callbacks --------------------------------------------------------------------
    callback_service_due_minutes: int = Field(
        30, ge=1, le=1440, description="Service completed: call back within this many minutes."
    )
    callback_service_deadline_hours: float = Field(
        3.0, gt=0, le=168, description="Service completed: hard deadline for the callback."
    )
    callback_complaint_min_hours: float = Field(
        24.0, ge=0, le=720, description="Complaint resolved: call back no sooner than this."
    )
    callback_complaint_max_hours: float = Field(
        72.0, gt=0, le=720, description="Complaint resolved: deadline for the callback."
    )
    callback_windows: Windows = Field(
        parse_time_windows("10:30-11:30,15:00-17:30"),
        description="Local calling windows, HH:MM-HH:MM, comma list.",
    )
    callback_working_days: Weekdays = Field(
        parse_weekdays("mon-fri"), description="Days callbacks are placed."
    )
    holidays: str = Field(
        "CN",
        pattern=r"^([A-Z]{2})?$",
        description="Public holidays and make-up working days (调休) of this country (ISO code, "
        "from the holidays package) are off / worked for callbacks and working hours; empty "
        "for none.",
    )
    holidays_file: Path | None = Field(
        None,
        description="TOML overrides of the holiday calendar: off = [dates or "
        '"first..last" ranges], on = [dates worked]; wins over HOLIDAYS.',
    )
    working_hours: Windows = Field(
        parse_time_windows("09:00-18:00"),
        description="Working hours (service callbacks may ignore windows in them).",
    )
    callback_service_ignores_windows: bool = Field(
        True, description="30-minute service callbacks may be placed any time in working hours."
    )
    callback_retry_minutes: int = Field(
        30, ge=1, le=10_080, description="Minimum interval after no answer / busy / hang-up."
    )
    callback_max_attempts: int = Field(
        3, ge=1, le=20, description="Attempts before a callback is marked unreachable."
    )
    callback_auto_for_abandoned: bool = Field(
        True, description="Create a callback for every abandoned inbound call."
    )
    callback_dialer_enabled: bool = Field(
        True, description="This agent dials due callbacks (needs ARI and the database)."
    )
    callback_poll_seconds: Seconds = Field(
        5.0, description="How often the dialer looks for due callbacks."
    )
    callback_concurrency: int = Field(
        2, ge=1, le=100, description="Callback calls this agent places at the same time."
    )
    callback_ring_seconds: int = Field(
        30, ge=5, le=300, description="Ring a customer this long before the attempt is no_answer."
    )
    callback_digit_timeout_seconds: Seconds = Field(
        8.0, description="Wait this long for a key after a callback prompt ends."
    )
    callback_max_call_seconds: int = Field(
        900, ge=60, le=7200, description="A callback's recording (and call) stops after this."
    )
    # S8: an abandoned caller's callback is a return call, handed to the admin's own routing.
    return_call_context: DialplanName = Field(
        "return-call",
        description="Dialplan context a return call continues into after its greeting (S8): "
        "the admin's operator route, e.g. a context that runs their Queue().",
    )
    return_call_extension: DialplanName = Field(
        "s", description="Extension of IVR_AGENT_RETURN_CALL_CONTEXT a return call goes to."
    )
    return_call_priority: int = Field(
        1, ge=1, le=10_000, description="Priority of that extension a return call starts at."
    )
    return_call_order: Literal["customer_first", "operator_first"] = Field(
        "customer_first",
        description="How a return call of an abandoned call is placed (S8): customer_first "
        "dials the customer, greets them and hands them to the operator route; "
        "operator_first rings a free operator of IVR_AGENT_RETURN_CALL_QUEUE first (AMI "
        "QueueStatus) and dials the customer once they answer (customer_first when none is "
        "free).",
    )
    return_call_queue: DialplanName = Field(
        "hotline",
        description="The queue whose free operator an operator_first return call rings (its "
        "members as QueueStatus lists them, first free one in that order).",
    )
    queue_callback_context: DialplanName = Field(
        "queue-callback-return",
        description="Dialplan context the return call of an in-queue callback request "
        "continues into after its greeting (S8); its extension is the queue's name, priority "
        "1, e.g. `exten => hotline,1,Queue(hotline,…)`.",
    )
    queue_callback_priority: int = Field(
        10,
        ge=1,
        le=1_000_000,
        description="QUEUE_PRIO the return call of an in-queue callback request is given "
        "before it rejoins the queue: ahead of the callers who joined after its place.",
    )
    specialist_dial: SpecialistDial = Field(
        "PJSIP/op{operator_id}",
        description="Asterisk dial string of a specialist's phone for a specialist call-back "
        "(S8), rung before the customer; {operator_id} is the specialist's operator id.",
    )
    specialist_due_seconds: Seconds = Field(
        180.0,
        description="A specialist call-back reaches the customer within this many seconds of "
        "the request (S8: 他会在3分钟内与您联系); later: the breach late_specialist_callback.",
    )
    specialist_retry_seconds: Seconds = Field(
        15.0,
        description="A specialist call-back whose attempt failed (the specialist or the "
        "customer did not answer, the agent restarted) is tried again this many seconds "
        "later while its due time allows (S8); then the usual callback retry rules.",
    )
    queue_callback_poll_seconds: Seconds = Field(
        2.0,
        description="How often the agent compares the queues (AMI QueueStatus) with the "
        "waiting in-queue callback requests, to dial those whose place reached the front.",
    )

    # --- S6 / S7 -------------------------------------------------------------------------
    call_target_seconds: Seconds = Field(
        180.0,
        description="Target talk time per call (S6): the share of answered calls within it is "
        "a figure (within_target_duration_rate).",
    )
    call_max_seconds: Seconds = Field(300.0, description="Talk over this: over_max_duration.")
    complaint_chase_days: float = Field(
        3.0,
        gt=0,
        le=365,
        description="S7: chase (催办) the handling department of a complaint it has neither "
        "resolved nor given feedback on for this many days (since it was assigned, reopened "
        "or last gave feedback).",
    )
    complaint_escalation_hours: float = Field(
        24.0,
        gt=0,
        le=8760,
        description="S7: escalate a chased complaint to the department's management and to "
        "quality management when the department has still not answered this long after "
        "the chase.",
    )
    complaint_check_seconds: Seconds = Field(
        60.0,
        description="How often the agent looks for complaints to chase or escalate and for "
        "answered complaint callbacks.",
    )
    complaint_rate_target: float = Field(
        0.03, gt=0, le=1, description="S7: target complaint rate (fraction of calls)."
    )
    wrap_up_minutes: float = Field(
        10.0,
        gt=0,
        le=1440,
        description="S8: an answered call's record is due this long after hang-up; entered "
        "later, or not yet when this has passed: breach late_wrap_up.",
    )

    # --- S10 reports -----------------------------------------------------------------------
    reports_enabled: bool = Field(
        True,
        description="The running agent writes each closed day's, week's and month's report "
        "to DATA_DIR/reports (served at GET /api/reports).",
    )
    reports_formats: str = Field(
        "xlsx,csv,pdf",
        pattern=r"^(xlsx|csv|pdf)(,(xlsx|csv|pdf))*$",
        description="Formats of the reports the agent writes, comma list of xlsx, csv, pdf "
        "(pdf needs Debian's chromium).",
    )
    reports_catch_up_days: int = Field(
        31,
        ge=1,
        le=366,
        description="The agent writes the missing reports of the periods that ended within "
        "this many days (catch-up after downtime; 1: only the period just closed).",
    )

    assessment_weights: str = Field(
        "",
        pattern=rf"^({_WEIGHT}(,{_WEIGHT})*)?$",
        description="Weights of the monthly assessment's overall score, comma list of "
        "figure=weight (service_level, answer_rate, within_target_duration_rate, "
        "satisfaction_rate, qa_satisfaction_index); empty: figures only, no score.",
    )

    # --- notifications (S7 chase and escalation, S10 report mail) -----------------------
    departments_file: Path | None = Field(
        None,
        description="TOML file of the departments that handle complaints, their contacts "
        "(e-mail, webhook), their management's and quality management's (README: "
        "Notifications); unset: no departments.",
    )
    smtp_host: SmtpHost = Field(
        None, description="SMTP server that sends the agent's e-mail; unset: no e-mail."
    )
    smtp_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port of SMTP_HOST (default by SMTP_TLS: 25 none, 587 starttls, 465 tls).",
    )
    smtp_tls: Literal["none", "starttls", "tls"] = Field(
        "starttls",
        description="none: plain SMTP; starttls: upgrade with STARTTLS (required); tls: "
        "TLS from the first byte (SMTPS).",
    )
    smtp_ca_file: Path | None = Field(
        None,
        description="PEM file of the certificate authorities the SMTP server's certificate is "
        "checked against (an internal CA); unset: the system's.",
    )
    smtp_username: str | None = Field(
        None, min_length=1, max_length=256, description="SMTP login; unset: no login."
    )
    smtp_password: SecretStr | None = Field(None, description="Password of SMTP_USERNAME.")
    smtp_from: EmailAddress = Field(
        None, description="Sender address of the agent's e-mail (required with SMTP_HOST)."
    )
    smtp_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Timeout of each try at sending one e-mail (seconds)."
    )
    webhook_secret: WebhookSecret = Field(
        None,
        description="Key of the HMAC-SHA256 signature of every webhook (16+ characters; "
        "required when the departments file names a webhook).",
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Timeout of each webhook request (seconds)."
    )
    notify_attempts: int = Field(
        3,
        ge=1,
        le=10,
        description="Tries per e-mail address or webhook before it counts as failed (only "
        "transient faults are retried: refused, timed out, SMTP 4xx, HTTP 5xx/429).",
    )
    notify_retry_seconds: float = Field(
        2.0,
        ge=0,
        le=300,
        description="Wait before the second try; doubled before each further one.",
    )
    reports_mail_to: EmailAddresses = Field(
        (),
        description="Comma-separated addresses each report the agent produces is e-mailed "
        "to (attached; needs SMTP_HOST); empty: no report mail.",
    )

    # --- recordings ----------------------------------------------------------------------
    record_inbound: bool = Field(True, description="Record inbound calls when answered.")
    inbound_recorder: Literal["snoop", "mixmonitor"] = Field(
        "snoop",
        description="How inbound calls are recorded: snoop (a snoop channel per answered "
        "call, over ARI; any dialplan) or mixmonitor (the ivr-agent-inbound hook runs "
        "MixMonitor after the greeting, for PBXs that must not carry a snoop channel per "
        "call; needs audio that flows, and loses recordings when the PBX is overloaded).",
    )
    recording_retention_days: int = Field(
        180,
        ge=1,
        le=36_500,
        description="Inbound recordings older than this are purged (metadata kept).",
    )
    recording_retention_callback_days: int | None = Field(
        None,
        ge=1,
        le=36_500,
        description="Callback recordings older than this are purged (metadata kept); unset: "
        "kept for good (S5: 回访通话必须保有录音).",
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.callback_complaint_min_hours > self.callback_complaint_max_hours:
            raise ValueError(
                "IVR_AGENT_CALLBACK_COMPLAINT_MIN_HOURS must not exceed "
                "IVR_AGENT_CALLBACK_COMPLAINT_MAX_HOURS"
            )
        self._check_mail()
        if self.prompts_delivery == "http" and self.prompts_base_url is None:
            raise ValueError(
                f"IVR_AGENT_PROMPTS_URL must be set: IVR_AGENT_HTTP_LISTEN ({self.http_listen}) "
                "listens on every address, which tells no address at which the PBX fetches the "
                "prompts (http delivery); set it to this host's address as the PBX reaches it, "
                "e.g. http://10.0.0.5:8080, or IVR_AGENT_PROMPTS_DELIVERY=directory"
            )
        return self

    def _check_mail(self) -> None:
        if self.smtp_host is not None and self.smtp_from is None:
            raise ValueError("IVR_AGENT_SMTP_FROM must be set with IVR_AGENT_SMTP_HOST")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError(
                "IVR_AGENT_SMTP_USERNAME and IVR_AGENT_SMTP_PASSWORD go together: set both "
                "or neither"
            )
        if self.smtp_username is not None and self.smtp_tls == "none":
            raise ValueError(
                "IVR_AGENT_SMTP_USERNAME with IVR_AGENT_SMTP_TLS=none would send the password "
                "in clear: use starttls or tls"
            )
        if self.smtp_ca_file is not None and self.smtp_tls == "none":
            raise ValueError("IVR_AGENT_SMTP_CA_FILE needs IVR_AGENT_SMTP_TLS starttls or tls")
        if self.reports_mail_to and self.smtp_host is None:
            raise ValueError("IVR_AGENT_REPORTS_MAIL_TO needs IVR_AGENT_SMTP_HOST to send with")

    @property
    def smtp_port_or_default(self) -> int:
        """``smtp_port``, else the usual port of ``smtp_tls``."""
        return self.smtp_port or SMTP_DEFAULT_PORTS[self.smtp_tls]

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, ("**********" if name in SECRET_FIELDS and value is not None else value)

    @property
    def report_formats(self) -> tuple[Literal["xlsx", "csv", "pdf"], ...]:
        """``reports_formats`` as a tuple, each once, in the given order."""
        formats: list[Literal["xlsx", "csv", "pdf"]] = []
        for name in self.reports_formats.split(","):
            fmt: Literal["xlsx", "csv", "pdf"] = (
                "xlsx" if name == "xlsx" else "csv" if name == "csv" else "pdf"
            )
            if fmt not in formats:
                formats.append(fmt)
        return tuple(formats)

    @property
    def assessment_weight_map(self) -> dict[str, float]:
        """``assessment_weights`` as ``{figure: weight}`` (empty: no overall score)."""
        pairs = (item.split("=") for item in self.assessment_weights.split(",") if item)
        return {name: float(weight) for name, weight in pairs}

    @property
    def zone(self) -> ZoneInfo:
        """The call centre's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def prompts_base_url(self) -> str | None:
        """The base URL the PBX fetches prompts from (http delivery): ``prompts_url``, else
        ``http://`` + ``http_listen`` when that is one address; None when it is not."""
        if self.prompts_url is not None:
            return self.prompts_url
        host = self.http_listen.host
        if host in UNSPECIFIED_HOSTS:
            return None
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.http_listen.port}"

    @property
    def service_level_seconds(self) -> float:
        """Answered within standard ⇔ ring time below this (max_rings × ring cycle)."""
        return self.max_rings * self.ring_cycle_seconds

    def secrets(self) -> list[str]:
        """Secret values to scrub from any log output."""
        values = []
        if self.database_url is not None:
            db = urlsplit(self.database_url.get_secret_value())
            if db.password:
                values.append(unquote(db.password))
        for endpoint in (self.ami_url, self.ari_url):
            if endpoint is not None:
                values.append(endpoint.password.get_secret_value())
        for secret in (self.smtp_password, self.webhook_secret):
            if secret is not None:
                values.append(secret.get_secret_value())
        return [v for v in values if v]


def _default_prompts_dir(data: dict[str, Any]) -> Path:
    # Where prompts are rendered follows the delivery: the agent's own data with http
    # (nothing the PBX must see), the PBX's sounds directory with directory delivery.
    if data.get("prompts_delivery") == "directory":
        return DIRECTORY_PROMPTS_DIR
    return Path(data.get("data_dir") or "./var") / "prompts"


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return ENV_PREFIX + field.upper()


def _describe(error: Any) -> str:
    loc = error.get("loc") or ()
    field = str(loc[0]) if loc else ""
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if not field:
        return message
    where = env_name(field)
    if field in SECRET_FIELDS:
        return f"{where}: {message}"
    shown = repr(error.get("input"))
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{where}: {message} (got {shown})"


@dataclass(frozen=True)
class SystemdEnvironment:
    """What systemd told the process through its environment (:func:`systemd_environment`)."""

    notify_socket: str | None = None
    #: ``WATCHDOG_USEC``: the watchdog timeout in microseconds, None when off.
    watchdog_usec: int | None = None
    #: ``WATCHDOG_PID``: the process the watchdog is for (None: the main process).
    watchdog_pid: int | None = None

    @property
    def watchdog_seconds(self) -> float | None:
        """The watchdog timeout for this process, None when it has none."""
        if not self.watchdog_usec or self.watchdog_usec <= 0:
            return None
        if self.watchdog_pid is not None and self.watchdog_pid != os.getpid():
            return None
        return self.watchdog_usec / 1_000_000


#: systemd's credentials directory (``LoadCredential=``): files named like the variables.
CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"


def _credentials(directory: Path) -> dict[str, str]:
    # Read here rather than by pydantic-settings' secrets_dir, which JSON-decodes optional
    # structured values (an AMI URL is not JSON) where the environment source does not.
    present = {key.upper() for key in os.environ}
    values = {}
    for field in Settings.model_fields:
        name = env_name(field)
        if name in present:
            continue
        for path in (directory / name, directory / name.lower()):
            if path.is_file():
                values[field] = path.read_text(encoding="utf-8").strip()
                break
    return values


#: Variables that were renamed: still set, they stop the start with the new name (a value
#: silently ignored would change what the agent does without telling anyone).
RENAMED = {
    # Read by nothing before complaints existed; S7's 3 days are the chase, not escalation.
    "IVR_AGENT_COMPLAINT_ESCALATION_DAYS": "IVR_AGENT_COMPLAINT_CHASE_DAYS",
}


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise :class:`SettingsError` naming each bad variable.

    Under systemd, a setting may also come from a credential named like its variable
    (``LoadCredential=IVR_AGENT_AMI_URL:/etc/ivr-agent/ami-url``): a file of that name in
    ``$CREDENTIALS_DIRECTORY``, whose text (trimmed) is the value. The environment wins over
    a credential, so passwords need never be in the unit or its environment.
    """
    renamed = [f"{old} was renamed {new}" for old, new in RENAMED.items() if old in os.environ]
    if renamed:
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(renamed))
    credentials = os.environ.get(CREDENTIALS_DIRECTORY)
    if credentials:
        overrides = {**_credentials(Path(credentials)), **overrides}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # A default derived from another setting fails with it; naming both would only
        # point away from the one the user has to fix.
        lines = [
            _describe(e)
            for e in exc.errors(include_url=False)
            if e["type"] != "default_factory_not_called"
        ]
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def systemd_environment() -> SystemdEnvironment:
    """What systemd passed in the environment for the notify protocol (``Type=notify``)."""

    def number(name: str) -> int | None:
        raw = os.environ.get(name, "").strip()
        return int(raw) if raw.isdigit() else None

    return SystemdEnvironment(
        notify_socket=os.environ.get("NOTIFY_SOCKET") or None,
        watchdog_usec=number("WATCHDOG_USEC"),
        watchdog_pid=number("WATCHDOG_PID"),
    )

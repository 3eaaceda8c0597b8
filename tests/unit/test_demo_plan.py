"""The demo's pure parts: its settings from the sandbox env, and the shape of a batch."""

from __future__ import annotations

from datetime import UTC, datetime

from ivr_agent.cli.demo import batch_plan, demo_settings
from ivr_agent.core.callbacks import CallbackConfig, is_allowed
from ivr_agent.sim.waiting_customers import SHORT_ABANDON_MARGIN_SECONDS

SANDBOX_ENV = {
    "IVR_AGENT_AMI_URL": "ami://ivr:ami-secret-1@127.0.0.1:5038",
    "IVR_AGENT_ARI_URL": "http://ivr:ari-secret-2@127.0.0.1:8088",
    "IVR_AGENT_ARI_APP": "ivr-agent",
    "IVR_AGENT_CALLBACK_DIAL": "PJSIP/{number}@trunk",
    "IVR_AGENT_SIM_ARI_URL": "http://sim:phones-secret@127.0.0.1:8089",
    "IVR_AGENT_PROMPTS_DIR": "/srv/sandbox/sounds/ivr-agent",
}


def test_given_the_sandbox_env_then_the_demo_agent_gets_ami_ari_and_prompts_dir() -> None:
    settings = demo_settings(SANDBOX_ENV)
    assert settings.ami_url is not None
    assert settings.ami_url.port == 5038
    assert settings.ari_url is not None
    assert settings.ari_url.port == 8088
    assert settings.ari_app == "ivr-agent"
    assert settings.callback_dial == "PJSIP/{number}@trunk"
    assert str(settings.prompts_dir) == "/srv/sandbox/sounds/ivr-agent"
    # Secrets stay masked and are known to the log scrubber.
    assert "ari-secret-2" not in repr(settings)
    assert "ami-secret-1" not in repr(settings)
    assert {"ami-secret-1", "ari-secret-2"} <= set(settings.secrets())


def test_given_the_demo_settings_then_callbacks_may_be_dialled_at_any_moment_of_the_week() -> None:
    config = CallbackConfig.from_settings(demo_settings(SANDBOX_ENV))
    for day in range(23, 30):  # Monday 2026-11-23 … Sunday
        for hour, minute in ((0, 0), (11, 59), (12, 0), (23, 59)):
            moment = datetime(2026, 11, day, hour, minute, tzinfo=UTC)
            for reason in ("abandoned_call", "service_completed"):
                windows = config.allowed_windows(reason)
                assert is_allowed(moment, windows, config), (reason, moment)
    assert config.retry_interval.total_seconds() == 60


def test_given_a_batch_then_each_long_abandon_has_a_waiting_customer_of_its_number() -> None:
    plan = batch_plan(3, 60, 1.0, short_abandon=5.0)
    long_abandons = [
        c
        for c in plan.calls
        if c.abandon_after is not None and c.abandon_after >= 5.0 + SHORT_ABANDON_MARGIN_SECONDS
    ]
    assert long_abandons, "the mix holds abandons"
    assert [c.number for c in plan.callbacks] == [c.caller for c in long_abandons]
    assert all(not c.originate for c in plan.callbacks), "the agent places the callbacks"
    assert {c.behaviour for c in plan.callbacks} == {"answer", "no_answer"}
    assert all(call.caller.startswith("1380003") for call in plan.calls)
    other_batch = {c.caller for c in batch_plan(4, 60, 1.0, short_abandon=5.0).calls}
    assert not other_batch & {c.caller for c in plan.calls}

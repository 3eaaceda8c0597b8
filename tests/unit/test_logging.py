"""Logging: JSON lines off a terminal, and no secret ever reaches the output."""

from __future__ import annotations

import io
import json
import logging

import structlog

from ivr_agent.platform.logging import configure_logging, get_logger

SECRET = "s3cr3t-Pa55word"


def test_given_json_format_then_each_line_is_an_object_with_bound_call_id() -> None:
    out = io.StringIO()
    configure_logging(log_format="json", stream=out)
    with structlog.contextvars.bound_contextvars(call_id="c-1"):
        get_logger("t").info("call answered", rings=2, caller="张三")
    line = json.loads(out.getvalue().splitlines()[-1])
    assert line["event"] == "call answered"
    assert line["call_id"] == "c-1"
    assert line["caller"] == "张三"
    assert line["level"] == "info"


def test_given_a_secret_when_anything_logs_it_then_the_output_masks_it() -> None:
    out = io.StringIO()
    configure_logging(log_format="json", secrets=[SECRET], stream=out)
    get_logger("t").warning("login failed", url=f"ami://agent:{SECRET}@pbx", extra=[SECRET])
    logging.getLogger("panoramisk").error("auth with %s refused", SECRET)
    try:
        raise RuntimeError(f"connect failed: {SECRET}")
    except RuntimeError:
        get_logger("t").exception("boom")
    text = out.getvalue()
    assert SECRET not in text
    assert text.count("**********") >= 4


def test_given_console_format_then_lines_are_readable_text() -> None:
    out = io.StringIO()
    configure_logging(log_format="console", stream=out)
    get_logger("t").info("agent started", http="http://127.0.0.1:8080")
    text = out.getvalue()
    assert "agent started" in text
    assert not text.lstrip().startswith("{")

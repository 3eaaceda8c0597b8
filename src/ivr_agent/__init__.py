"""ivr-agent: service standards for Asterisk call centres, measured and enforced."""

__version__ = "0.1.0"

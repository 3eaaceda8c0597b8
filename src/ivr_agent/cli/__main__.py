"""``python -m ivr_agent.cli``: the ``ivr-agent`` command."""

import sys

from ivr_agent.cli import main

sys.exit(main())

"""`python -m agent_auth` is `agent-auth`."""

import sys

from agent_auth.cli import entry

sys.exit(entry())

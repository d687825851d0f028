"""`python -m agent_auth` is `agent-auth`."""

import sys

from agent_auth.entry import main

sys.exit(main())

"""Pattern 01, service side: every request is served, whoever sent it.

There is no `authorize`: the service does whatever it is asked, and nobody decides.
"""

from starlette.requests import Request

from runtime.pattern_api import Identity


async def get_identity(request: Request) -> Identity:
    # No header is read. Whoever can reach the service is served, with everyone's data.
    return Identity(method="none", detail="no credential checked")

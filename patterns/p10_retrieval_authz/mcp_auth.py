"""Pattern 10, MCP side: unchanged from pattern 09 (task-scoped delegation chains). What
this pattern adds happens in the knowledge service, at retrieval (service_auth.py)."""

from patterns.p09_delegation_chain.mcp_auth import auth_handler

__all__ = ["auth_handler"]

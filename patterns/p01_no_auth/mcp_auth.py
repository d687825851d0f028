"""Pattern 01: the MCP server calls the services with no credential at all."""

from runtime.pattern_api import AuthHandler

handler = AuthHandler()

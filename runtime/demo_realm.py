"""The demo realm's own facts, read once from the realm file both stacks import.

Passwords, client secrets and user ids of a lab realm (never real users): the one source the
runner, the battery and the tests read, so that none of them keeps a copy.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from stack import REALM_FILE


@dataclass(frozen=True)
class DemoRealm:
    passwords: dict[str, str]        # username -> password
    client_secrets: dict[str, str]   # client id -> secret (confidential clients)
    user_ids: dict[str, str]         # username -> `sub` (fixed ids, the same on both stacks)

    def secret(self, client_id: str) -> str:
        return self.client_secrets.get(client_id, "")


@functools.cache
def demo_realm(realm_file: Path = REALM_FILE) -> DemoRealm:
    realm = json.loads(realm_file.read_text(encoding="utf-8"))
    passwords, user_ids = {}, {}
    for user in realm.get("users", []):
        if "id" in user:
            user_ids[user["username"]] = user["id"]
        for cred in user.get("credentials", []):
            if cred.get("type") == "password":
                passwords[user["username"]] = cred["value"]
    secrets = {c["clientId"]: c["secret"] for c in realm.get("clients", [])
               if isinstance(c.get("secret"), str)}
    return DemoRealm(passwords, secrets, user_ids)

"""The directory service: users, roles and account state (audience `directory-service`)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from runtime.services.app import service_app
from runtime.services.guard import Guard
from runtime.services.world import Role, User


class RoleIn(BaseModel):
    role: Role


def _public(user: User) -> dict[str, object]:
    return asdict(user)


def build_directory_app(guard: Guard) -> FastAPI:
    app = service_app("Acme directory service", guard.ctx)
    world = guard.ctx.world

    def target(username: str) -> User:
        user = world().users.get(username)
        if user is None:
            raise HTTPException(404, detail={"error": "not_found", "reason": f"no user {username}"})
        return user

    @app.get("/users")
    async def list_users(request: Request) -> dict[str, object]:
        await guard.check(request, "list_users", {"type": "user"})
        return {"users": [_public(u) for u in world().users.values()]}

    @app.post("/users/{username}/role")
    async def set_role(username: str, body: RoleIn, request: Request) -> dict[str, object]:
        resource = {"type": "user", "username": username, "role": body.role}
        await guard.check(request, "set_role", resource)
        user = target(username)
        user.role = body.role
        return {"user": _public(user)}

    @app.post("/users/{username}/disable")
    async def disable_user(username: str, request: Request) -> dict[str, object]:
        await guard.check(request, "disable_user", {"type": "user", "username": username})
        user = target(username)
        user.disabled = True
        return {"user": _public(user)}

    return app

"""The records service: expenses, documents and public notes (audience `records-service`)."""

# No `from __future__ import annotations`: FastAPI evaluates the Annotated[..., Depends(...)]
# parameters below, and they refer to this module's local `guard`.

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from runtime.identity import Identity
from runtime.services.app import read_body, service_app
from runtime.services.guard import Guard
from runtime.services.world import Document, Expense, Note, World, as_json


class ExpenseIn(BaseModel):
    amount: float = Field(gt=0, lt=1_000_000)
    description: str = Field(min_length=1, max_length=500)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


def _sees_document(identity: Identity, doc: Document, world: World) -> bool:
    """With a known user, documents are filtered by visibility; without one, all are shown."""
    if identity.user_id is None:
        return True
    user = world.users.get(identity.user_id)
    role = identity.role or (user.role if user else None)
    department = identity.claims.get("department") or (user.department if user else None)
    if doc.visibility == "public":
        return True
    if doc.visibility == "admin":
        return role == "admin"
    return doc.visibility == department


def _expense_resource(expense: Expense, world: World) -> dict[str, object]:
    """The expense as policies see it: its owner by realm id (`sub`), and by name to read."""
    owner = world.users.get(expense.owner)
    return {"type": "expense", "id": expense.id, "owner": owner.id if owner else expense.owner,
            "owner_name": expense.owner, "department": expense.department}


def build_records_app(guard: Guard) -> FastAPI:
    app = service_app("Acme records service", guard.ctx)
    world = guard.ctx.world

    @app.get("/expenses")
    async def list_expenses(
        request: Request, identity: Annotated[Identity, Depends(guard.caller("read_expenses"))]
    ) -> dict[str, object]:
        await guard.authorize(request, identity, "read_expenses", {"type": "expense"})
        items = [e for e in world().expenses.values()
                 if identity.user_id is None or e.owner == identity.user_id]
        return {"expenses": [as_json(e) for e in items]}

    @app.post("/expenses", status_code=201)
    async def submit_expense(
        request: Request, identity: Annotated[Identity, Depends(guard.caller("submit_expense"))]
    ) -> dict[str, object]:
        await guard.authorize(request, identity, "submit_expense", {"type": "expense"})
        body = await read_body(request, ExpenseIn)
        owner = identity.user_id or "unknown"
        department = world().users[owner].department if owner in world().users else "unknown"
        expense = Expense(world().next_expense_id(), owner, department, body.amount,
                          body.description)
        world().expenses[expense.id] = expense
        return {"expense": as_json(expense)}

    @app.post("/expenses/{expense_id}/approve")
    async def approve_expense(
        expense_id: int, request: Request,
        identity: Annotated[Identity, Depends(guard.caller("approve_expense"))],
    ) -> dict[str, object]:
        expense = world().expenses.get(expense_id)
        if expense is None:
            resource: dict[str, object] = {"type": "expense", "id": expense_id}
            await guard.authorize(request, identity, "approve_expense", resource)
            raise HTTPException(404, detail={"error": "not_found", "reason": "no such expense"})
        await guard.authorize(request, identity, "approve_expense",
                              _expense_resource(expense, world()))
        expense.status = "approved"
        expense.approved_by = identity.user_id or "unknown"
        return {"expense": as_json(expense)}

    @app.get("/documents")
    async def list_documents(
        request: Request, identity: Annotated[Identity, Depends(guard.caller("read_documents"))],
        query: str | None = None,
    ) -> dict[str, object]:
        await guard.authorize(request, identity, "read_documents", {"type": "document"})
        docs = [d for d in world().documents.values() if _sees_document(identity, d, world())]
        if query:
            words = query.lower().split()
            docs = [d for d in docs if all(w in d.title.lower() for w in words)]
        return {"documents": [as_json(d) for d in docs]}

    @app.get("/notes")
    async def list_notes(
        request: Request, identity: Annotated[Identity, Depends(guard.caller("read_notes"))]
    ) -> dict[str, object]:
        await guard.authorize(request, identity, "read_notes", {"type": "note"})
        return {"notes": [as_json(n) for n in world().notes]}

    @app.post("/notes", status_code=201)
    async def post_note(
        request: Request, identity: Annotated[Identity, Depends(guard.caller("post_note"))]
    ) -> dict[str, object]:
        await guard.authorize(request, identity, "post_note", {"type": "note"})
        body = await read_body(request, NoteIn)
        note = Note(world().next_note_id(), identity.user_id or "anonymous", body.text)
        world().notes.append(note)
        return {"note": as_json(note)}

    return app

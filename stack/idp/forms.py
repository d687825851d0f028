"""Reading form posts safely and authenticating clients (client_secret_post / _basic)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request

from .errors import OAuthError, invalid_client_credentials, invalid_request, unknown_client
from .realm import Client, Realm

MAX_BODY_BYTES = 64 * 1024
MAX_VALUE_CHARS = 16 * 1024
MAX_FIELDS = 64
MULTI_VALUED = frozenset({"audience", "resource"})
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Form:
    fields: dict[str, list[str]]

    def get(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))

    def check_duplicates(self, multi_valued: frozenset[str] = MULTI_VALUED) -> None:
        """Keycloak refuses a repeated parameter unless the grant allows it (audience, resource)."""
        for name, values in self.fields.items():
            if len(values) > 1 and name not in multi_valued:
                raise invalid_request("duplicated parameter")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, read up to `limit` bytes; 400 invalid_request beyond."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise invalid_request(f"Request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(request: Request) -> Form:
    """The url-encoded body as a Form (empty for any other content type, as Keycloak reads
    it: the request then fails on its first missing parameter); 400 when too big."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != FORM_TYPE:
        return Form({})
    body = await read_body(request)
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise invalid_request("Request body is not UTF-8") from None
    except ValueError:
        raise invalid_request(f"Request body has more than {MAX_FIELDS} parameters") from None
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        if len(value) > MAX_VALUE_CHARS:
            # Keycloak's wording (its limit is configurable; this one is fixed)
            raise invalid_request(
                f"The size of OIDC parameter '{name[:64]}' is longer than allowed."
            )
        fields.setdefault(name, []).append(value)
    return Form(fields)


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if ":" not in decoded:
        return None
    client_id, secret = decoded.split(":", 1)
    return unquote_plus(client_id), unquote_plus(secret)  # RFC 6749 section 2.3.1 encoding


def authenticate_client(realm: Realm, form: Form, authorization: str | None) -> Client:
    """The authenticated client, or the OAuthError Keycloak would answer."""
    client_id = secret = None
    if authorization and authorization[:6].lower() == "basic ":
        parsed = _basic(authorization)
        if parsed is None and form.get("client_id") is None:
            raise OAuthError(
                401,
                "invalid_client",
                "Malformed Basic authorization header",
                headers={"WWW-Authenticate": f'Basic realm="{realm.name}"'},
            )
        if parsed is not None:
            client_id, secret = parsed
    client_id = form.get("client_id") or client_id
    secret = form.get("client_secret") if form.get("client_secret") is not None else secret
    client = realm.clients.get(client_id) if client_id else None
    if client is None or not client.enabled:
        raise unknown_client()
    if not client.public:
        if secret is None or not client.check_secret(secret):
            raise invalid_client_credentials()
    if client.bearer_only:
        raise OAuthError(400, "invalid_client", "Bearer-only not allowed")
    return client

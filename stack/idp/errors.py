"""OAuth errors as Keycloak sends them: `{"error", "error_description"}` plus a status code."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from stack.errors import ExplorerError

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(ExplorerError):
    def __init__(
        self,
        status: int,
        error: str,
        description: str | None = None,
        headers: dict[str, str] | None = None,
        empty_body: bool = False,
    ) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}
        self.empty_body = empty_body  # Keycloak's userinfo answers with the header only

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description is not None:
            body["error_description"] = self.description
        return body

    def response(self) -> Response:
        if self.empty_body:
            return Response(status_code=self.status, headers={**NO_STORE, **self.headers})
        return JSONResponse(
            self.body(), status_code=self.status, headers={**NO_STORE, **self.headers}
        )


def invalid_request(description: str) -> OAuthError:
    return OAuthError(400, "invalid_request", description)


def invalid_client_credentials() -> OAuthError:
    """Wrong secret (Keycloak's ClientIdAndSecretAuthenticator says unauthorized_client)."""
    return OAuthError(401, "unauthorized_client", "Invalid client or Invalid client credentials")


def unknown_client() -> OAuthError:
    return OAuthError(401, "invalid_client", "Invalid client or Invalid client credentials")


def realm_not_found() -> OAuthError:
    return OAuthError(404, "Realm does not exist")

"""Embedded IdP: the authorization code flow with PKCE, end to end, and every refusal as
Keycloak 26.7.3 answers it (docs/real-stack.md, "Authorization code flow")."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from stack.browser import LoginFailed
from stack.idp import DEFAULT_REALM_FILE
from stack.idp.pkce import s256
from stack.idp.testing import IdPTestClient, claims_of

REDIRECT = "http://127.0.0.1/callback"
MCP = "http://127.0.0.1:8765/mcp"
MISSING_METHOD = "Missing parameter: code_challenge_method"
BAD_CHALLENGE = "Invalid parameter: code_challenge"
INVALID_TARGET = "The requested resource is invalid, missing, unknown, or malformed."
FORM = {"username": "alice", "password": "alice-pass"}


def location_params(location: str) -> list[tuple[str, str]]:
    parts = urlsplit(location)
    return parse_qsl(parts.fragment or parts.query)


async def open_auth(kc: IdPTestClient, **params: str | None):
    return await kc.http.get(kc.login_request(**params).url)


class Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self.inputs: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(a)
        if tag == "input":
            self.inputs[a["name"]] = a.get("type", "text")


def parse(html: str) -> Inputs:
    page = Inputs()
    page.feed(html)
    return page


async def test_the_code_flow_gives_the_users_tokens(kc):
    response, request = await kc.authorize("alice")
    r = await kc.redeem(response.code, request.code_verifier)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["refresh_token"] and body["id_token"]
    assert set(body["scope"].split()) == {"openid", "profile", "email", "mcp:tools"}
    access = claims_of(body["access_token"])
    assert access["jti"].startswith("onrtac:")  # Keycloak 26.7: online, regular, auth code
    assert (
        access["sid"]
        == body["session_state"]
        == parse_qs(urlsplit(response.location).query)["session_state"][0]
    )
    assert access["azp"] == "explorer-cli" and access["preferred_username"] == "alice"
    assert set(access["aud"]) == {"mcp-server", "records-service", "directory-service",
                                 "knowledge-service"}
    assert claims_of(body["id_token"])["aud"] == "explorer-cli"


async def test_mcp_server_is_in_the_audience_only_when_mcp_tools_is_asked_for(kc):
    without = claims_of(await kc.login("alice", scope="openid"))
    assert set(without["aud"]) == {"records-service", "directory-service", "knowledge-service"}
    assert "mcp:tools" not in without["scope"].split()
    r = await kc.exchange(await kc.login("alice", scope="openid"), audience="records-service")
    assert r.status_code == 403  # mcp-server may only exchange tokens issued for it


async def test_the_redirect_carries_state_session_state_iss_and_code_in_keycloaks_order(kc):
    response, request = await kc.authorize("bob", state="a b&c=d/é")
    assert response.location.startswith(REDIRECT + "?")
    names = [k for k, _ in location_params(response.location)]
    assert names == ["state", "session_state", "iss", "code"]
    assert response.state == "a b&c=d/é" == request.state
    assert response.iss == kc.issuer  # RFC 9207


async def test_without_state_the_redirect_has_none(kc):
    response, _ = await kc.authorize("bob", state=None)
    assert response.state is None
    assert "state" not in dict(location_params(response.location))


async def test_the_login_page_is_shaped_like_keycloaks(kc):
    r = await open_auth(kc)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert "no-store" in r.headers["cache-control"]
    page = parse(r.text)
    (form,) = page.forms
    assert form["id"] == "kc-form-login" and form["method"] == "post"
    action = urlsplit(form["action"])
    assert f"{action.scheme}://{action.netloc}{action.path}" == (
        f"{kc.issuer}/login-actions/authenticate"
    )
    assert set(parse_qs(action.query)) == {"session_code", "execution", "client_id", "tab_id"}
    assert page.inputs == {"username": "text", "password": "password", "credentialId": "hidden"}
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("AUTH_SESSION_ID=") and "Path=/realms/agentauth/" in cookie
    assert "HttpOnly" in cookie and "SameSite=none" in cookie


async def test_the_authorization_endpoint_also_takes_a_form_post(kc):
    query = dict(parse_qsl(urlsplit(kc.login_request().url).query))
    r = await kc.http.post(kc.path("protocol/openid-connect/auth"), data=query)
    assert r.status_code == 200 and parse(r.text).forms[0]["id"] == "kc-form-login"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"client_id": "no-such-client"}, "Client not found."),
        ({"client_id": None}, "Invalid Request"),
        ({"redirect_uri": "http://evil.example/callback"}, "Invalid parameter: redirect_uri"),
        ({"redirect_uri": "http://localhost/callback"}, "Invalid parameter: redirect_uri"),
        ({"redirect_uri": REDIRECT + "?x=1"}, "Invalid parameter: redirect_uri"),
        ({"redirect_uri": "http://127.0.0.1/other"}, "Invalid parameter: redirect_uri"),
        ({"redirect_uri": None}, "Invalid parameter: redirect_uri"),  # openid: it is required
        ({"client_id": "mcp-server"}, "Invalid parameter: redirect_uri"),  # no redirect URIs
        ({"client_id": "no-such-client", "redirect_uri": "http://evil/"}, "Client not found."),
        ({"response_type": "token", "redirect_uri": "http://evil/"}, "redirect_uri"),
    ],
)
async def test_an_untrusted_client_or_redirect_uri_gets_an_error_page_never_a_redirect(
    kc, params, message
):
    r = await open_auth(kc, **params)
    assert r.status_code == 400 and "location" not in r.headers
    assert r.headers["content-type"].startswith("text/html")
    assert 'id="kc-error-message"' in r.text and message in r.text
    assert "kc-form-login" not in r.text


@pytest.mark.parametrize(
    ("params", "error", "description"),
    [
        ({"response_type": None}, "invalid_request", "Missing parameter: response_type"),
        ({"response_type": "foo"}, "unsupported_response_type", None),
        ({"code_challenge_method": None}, "invalid_request", MISSING_METHOD),
        (
            {"code_challenge_method": None, "code_challenge": None},
            "invalid_request",
            MISSING_METHOD,
        ),
        (
            {"code_challenge_method": "plain"},
            "invalid_request",
            "Invalid parameter: code challenge method is not matching the configured one",
        ),
        ({"code_challenge": None}, "invalid_request", "Missing parameter: code_challenge"),
        ({"code_challenge": "abc"}, "invalid_request", BAD_CHALLENGE),
        ({"code_challenge": "a" * 42 + "!"}, "invalid_request", BAD_CHALLENGE),
        ({"code_challenge": "a" * 129}, "invalid_request", BAD_CHALLENGE),
        ({"scope": "openid x-all"}, "invalid_scope", "Invalid scopes: openid x-all"),
        ({"resource": "http://mcp.example/#frag"}, "invalid_target", INVALID_TARGET),
        ({"resource": "not-absolute"}, "invalid_target", INVALID_TARGET),
        ({"response_mode": "bogus"}, "invalid_request", "Invalid parameter: response_mode"),
        ({"prompt": "none"}, "login_required", None),
    ],
)  # fmt: skip
async def test_a_bad_request_from_a_trusted_client_is_redirected_back_with_the_error(
    kc, params, error, description
):
    r = await open_auth(kc, state="s-1", **params)
    assert r.status_code == 302
    assert r.headers["location"].startswith(REDIRECT + "?")
    expected = [("error", error)]
    if description is not None:
        expected.append(("error_description", description))
    expected += [("state", "s-1"), ("iss", kc.issuer)]
    assert location_params(r.headers["location"]) == expected


async def test_a_duplicated_parameter_is_refused(kc):
    r = await kc.http.get(kc.login_request(state="one").url + "&state=two")
    assert location_params(r.headers["location"])[:2] == [
        ("error", "invalid_request"),
        ("error_description", "duplicated parameter"),
    ]


async def test_an_implicit_flow_request_is_refused_in_the_fragment(kc):
    r = await open_auth(kc, response_type="token", state="s")
    location = r.headers["location"]
    assert location.startswith(REDIRECT + "#error=unauthorized_client")
    assert "Implicit+flow+is+disabled" in location


async def test_a_loopback_redirect_uri_may_use_any_port_and_the_token_request_repeats_it(kc):
    port = "http://127.0.0.1:53682/callback"  # RFC 8252 section 7.3
    response, request = await kc.authorize("alice", redirect_uri=port)
    assert response.location.startswith(port + "?")
    r = await kc.redeem(response.code, request.code_verifier)  # the registered URI: not it
    assert r.json() == {"error": "invalid_grant", "error_description": "Incorrect redirect_uri"}
    response, request = await kc.authorize("alice", redirect_uri=port)
    assert (
        await kc.redeem(response.code, request.code_verifier, redirect_uri=port)
    ).status_code == 200


async def test_a_plain_oauth_request_may_omit_the_redirect_uri(kc):
    response, request = await kc.authorize("alice", redirect_uri=None, scope="mcp:tools")
    assert response.location.startswith(REDIRECT + "?")
    r = await kc.redeem(response.code, request.code_verifier, redirect_uri="")
    assert r.status_code == 200  # the request named no redirect_uri: none is compared
    assert "id_token" not in r.json()


async def test_the_response_can_come_in_the_fragment(kc):
    response, _ = await kc.authorize("alice", response_mode="fragment")
    assert response.location.startswith(REDIRECT + "#state=") and response.code


# -------------------------------------------------------------------------- the login form


async def test_a_wrong_password_shows_the_form_again_and_redirects_nowhere(kc):
    with pytest.raises(LoginFailed) as failed:
        await kc.authorize("alice", "wrong")
    assert failed.value.reason == "the IdP refused the login: Invalid username or password."
    assert failed.value.status == 200 and failed.value.error is None


@pytest.mark.parametrize("user", ["nobody", "service-account-agent", ""])
async def test_unknown_users_and_service_accounts_cannot_log_in(kc, user):
    with pytest.raises(LoginFailed, match="Invalid username or password."):
        await kc.authorize(user, "x")


async def test_a_user_may_log_in_with_the_email_address(kc):
    response, request = await kc.authorize("alice@acme.example", "alice-pass")
    token = (await kc.redeem(response.code, request.code_verifier)).json()["access_token"]
    assert claims_of(token)["preferred_username"] == "alice"


async def test_a_refused_login_keeps_the_username_and_a_fresh_action(kc):
    r = await open_auth(kc)
    action = parse(r.text).forms[0]["action"]
    cookie = {"Cookie": r.headers["set-cookie"].split(";")[0]}
    again = await kc.http.post(action, data={"username": "alice", "password": "x"}, headers=cookie)
    assert again.status_code == 200 and 'value="alice"' in again.text
    assert "Invalid username or password." in again.text
    assert parse(again.text).forms[0]["action"] != action  # session_code is one-time


async def test_a_disabled_user_is_told_so_after_the_right_password(tmp_path):
    data = json.loads(DEFAULT_REALM_FILE.read_text())
    next(u for u in data["users"] if u["username"] == "dave")["enabled"] = False
    (tmp_path / "realm.json").write_text(json.dumps(data))
    async with IdPTestClient.embedded(tmp_path / "realm.json") as kc:
        with pytest.raises(LoginFailed, match="Account is disabled, contact your administrator."):
            await kc.authorize("dave")
        with pytest.raises(LoginFailed, match="Invalid username or password."):
            await kc.authorize("dave", "wrong")


async def test_a_form_post_without_the_cookie_is_an_error_page(kc):
    action = parse((await open_auth(kc)).text).forms[0]["action"]
    r = await kc.http.post(action, data=FORM)
    assert r.status_code == 400 and "location" not in r.headers
    assert "Restart login cookie not found." in r.text


async def test_a_form_post_for_an_unknown_tab_says_the_login_timed_out(kc):
    r = await open_auth(kc)
    action = parse(r.text).forms[0]["action"].replace("tab_id=", "tab_id=x")
    cookie = {"Cookie": r.headers["set-cookie"].split(";")[0]}
    r = await kc.http.post(action, data=FORM, headers=cookie)
    assert r.status_code == 400 and "Your login attempt timed out." in r.text


async def test_the_login_form_expires_with_accessCodeLifespanLogin(kc, clock):
    r = await open_auth(kc)
    action = parse(r.text).forms[0]["action"]
    cookie = {"Cookie": r.headers["set-cookie"].split(";")[0]}
    clock.advance(1801)
    r = await kc.http.post(action, data=FORM, headers=cookie)
    assert r.status_code == 400 and "Your login attempt timed out." in r.text


async def test_a_stale_form_action_leads_back_to_a_fresh_form(kc):
    r = await open_auth(kc)
    cookie = {"Cookie": r.headers["set-cookie"].split(";")[0]}
    stale = parse(r.text).forms[0]["action"]
    await kc.http.post(stale, data={"username": "alice", "password": "x"}, headers=cookie)
    r = await kc.http.post(stale, data=FORM, headers=cookie)
    assert r.status_code == 302 and "session_code" not in r.headers["location"]
    assert r.headers["location"].startswith(f"{kc.issuer}/login-actions/authenticate?")
    page = await kc.http.get(r.headers["location"], headers=cookie)
    assert "Action expired. Please continue with login now." in page.text
    fresh = parse(page.text).forms[0]["action"]
    done = await kc.http.post(fresh, data=FORM, headers=cookie)
    assert done.status_code == 302 and done.headers["location"].startswith(REDIRECT)


async def test_a_finished_login_cannot_be_submitted_again(kc):
    r = await open_auth(kc)
    cookie = {"Cookie": r.headers["set-cookie"].split(";")[0]}
    action = parse(r.text).forms[0]["action"]
    first = await kc.http.post(action, data=FORM, headers=cookie)
    assert first.status_code == 302 and "AUTH_SESSION_ID=" in first.headers["set-cookie"]
    again = await kc.http.post(action, data=FORM, headers=cookie)
    assert again.status_code == 400 and "location" not in again.headers


# ------------------------------------------------------------------------ the token request


async def test_a_wrong_code_verifier_is_refused(kc):
    response, _ = await kc.authorize("alice")
    r = await kc.redeem(response.code, "x" * 43)
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid_grant",
        "error_description": "PKCE verification failed: Code mismatch",
    }


async def test_the_challenge_is_the_s256_of_the_verifier(kc):
    request = kc.login_request()
    challenge = parse_qs(urlsplit(request.url).query)["code_challenge"][0]
    assert s256(request.code_verifier) == challenge


@pytest.mark.parametrize(
    ("verifier", "description"),
    [
        (None, "PKCE code verifier not specified"),
        ("abc", "PKCE verification failed: Invalid code verifier"),
        ("!" * 50, "PKCE verification failed: Invalid code verifier"),
        ("a" * 129, "PKCE verification failed: Invalid code verifier"),
    ],
)
async def test_a_missing_or_malformed_code_verifier_is_refused(kc, verifier, description):
    response, _ = await kc.authorize("alice")
    r = await kc.redeem(response.code, verifier)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant", "error_description": description}


async def test_a_code_works_once_and_its_reuse_revokes_what_it_gave(kc):
    response, request = await kc.authorize("alice")
    first = await kc.redeem(response.code, request.code_verifier)
    token = first.json()["access_token"]
    assert (await kc.exchange(token, audience="records-service")).status_code == 200
    again = await kc.redeem(response.code, request.code_verifier)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "Code not valid"}
    # RFC 6749 section 4.1.2, as Keycloak: the tokens of the first use stop working
    assert (await kc.exchange(token, audience="records-service")).status_code == 400
    refresh = await kc.token(
        {
            "grant_type": "refresh_token",
            "client_id": "explorer-cli",
            "refresh_token": first.json()["refresh_token"],
        }
    )
    assert refresh.status_code == 400


async def test_a_failed_attempt_spends_the_code(kc):
    response, request = await kc.authorize("alice")
    assert (await kc.redeem(response.code, "x" * 43)).status_code == 400
    r = await kc.redeem(response.code, request.code_verifier)
    assert r.json() == {"error": "invalid_grant", "error_description": "Code not valid"}


@pytest.mark.parametrize("redirect_uri", ["http://127.0.0.1/other", REDIRECT + "/", ""])
async def test_the_token_request_must_repeat_the_redirect_uri(kc, redirect_uri):
    response, request = await kc.authorize("alice")
    r = await kc.redeem(response.code, request.code_verifier, redirect_uri=redirect_uri)
    assert r.json() == {"error": "invalid_grant", "error_description": "Incorrect redirect_uri"}


async def test_a_code_is_bound_to_its_client(kc):
    response, request = await kc.authorize("alice")
    r = await kc.redeem(
        response.code,
        request.code_verifier,
        client_id="mcp-server",
        client_secret="mcp-server-secret",
    )
    assert r.json() == {
        "error": "invalid_grant",
        "error_description": "Auth error: Found different client_id in clientSession",
    }


async def test_a_code_expires_after_accessCodeLifespan(kc, clock):
    response, request = await kc.authorize("alice")
    clock.advance(61)
    r = await kc.redeem(response.code, request.code_verifier)
    assert r.json() == {"error": "invalid_grant", "error_description": "Code not valid"}


@pytest.mark.parametrize(
    ("form", "status", "body"),
    [
        (
            {"client_id": "explorer-cli"},
            400,
            {"error": "invalid_request", "error_description": "Missing parameter: code"},
        ),
        (
            {"client_id": "explorer-cli", "code": "garbage"},
            400,
            {"error": "invalid_grant", "error_description": "Code not valid"},
        ),
        (
            {"code": "garbage"},
            401,
            {
                "error": "invalid_client",
                "error_description": "Invalid client or Invalid client credentials",
            },
        ),
    ],
)
async def test_a_token_request_without_a_usable_code_is_refused(kc, form, status, body):
    r = await kc.token({"grant_type": "authorization_code", **form})
    assert r.status_code == status and r.json() == body


async def test_the_nonce_reaches_the_id_token_only(kc):
    r = await kc.code_flow("alice", nonce="n-0S6_WzA2Mj")
    assert claims_of(r.json()["id_token"])["nonce"] == "n-0S6_WzA2Mj"
    assert "nonce" not in claims_of(r.json()["access_token"])


# ------------------------------------------------------------- RFC 8707 resource indicators


async def test_a_resource_on_the_authorization_request_joins_the_audience(kc):
    token = (await kc.code_flow("alice", resource=MCP)).json()["access_token"]
    assert MCP in claims_of(token)["aud"] and "mcp-server" in claims_of(token)["aud"]


async def test_a_resource_on_the_token_request_joins_the_audience(kc):
    r = await kc.code_flow("alice", scope="openid", token_extra={"resource": MCP})
    assert set(claims_of(r.json()["access_token"])["aud"]) == {
        MCP,
        "records-service",
        "directory-service",
        "knowledge-service",
    }


@pytest.mark.parametrize("asked", ["not-absolute", "http://other.example/mcp", MCP + "#x"])
async def test_a_token_request_resource_must_be_valid_and_granted(kc, asked):
    r = await kc.code_flow("alice", resource=MCP, token_extra={"resource": asked})
    assert r.status_code == 400 and r.json()["error"] == "invalid_target"


async def test_a_refreshed_token_keeps_the_resource_audience(kc):
    body = (await kc.code_flow("alice", resource=MCP)).json()
    refreshed = await kc.token(
        {
            "grant_type": "refresh_token",
            "client_id": "explorer-cli",
            "refresh_token": body["refresh_token"],
        }
    )
    assert MCP in claims_of(refreshed.json()["access_token"])["aud"]
    assert claims_of(refreshed.json()["access_token"])["jti"].startswith("onrtrt:")


# ------------------------------------------------------------------------------- discovery


async def test_discovery_describes_the_code_flow_like_keycloak(kc):
    doc = (await kc.http.get(kc.path(".well-known/openid-configuration"))).json()
    assert doc["authorization_endpoint"] == f"{kc.issuer}/protocol/openid-connect/auth"
    assert "code" in doc["response_types_supported"]
    assert doc["code_challenge_methods_supported"] == ["plain", "S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert "authorization_code" in doc["grant_types_supported"]


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/oauth-authorization-server/realms/agentauth",  # RFC 8414, path inserted
        "/realms/agentauth/.well-known/oauth-authorization-server",
    ],
)
async def test_rfc_8414_metadata_is_the_openid_configuration(kc, path):
    oidc = (await kc.http.get(kc.path(".well-known/openid-configuration"))).json()
    r = await kc.http.get(path)
    assert r.status_code == 200 and r.json() == oidc


async def test_the_path_inserted_openid_configuration_is_404_like_keycloak(kc):
    r = await kc.http.get("/.well-known/openid-configuration/realms/agentauth")
    assert r.status_code == 404 and r.json() == {"error": "HTTP 404 Not Found"}

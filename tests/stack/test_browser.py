"""stack.browser.log_in: the user's browser against scripted IdPs (httpx.MockTransport) and
against the embedded IdP. What a careful browser does: send the password only to the IdP's
origin by POST, stop at the client's redirect, keep its own cookies, stay bounded."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from stack.browser import MAX_PAGE_BYTES, MAX_STEPS, AuthorizationResponse, LoginFailed, log_in
from stack.idp.testing import IdPTestClient

IDP = "http://idp.test"
AUTH = f"{IDP}/realms/r/auth?client_id=c&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&state=s"
FORM = """<html><body>
<form id="kc-form-login" action="{action}" method="{method}">
  <input name="username" type="text" value="">
  <input name="password" type="password">
  <input type="hidden" name="credentialId" value="">
  <input type="hidden" name="csrf" value="t&amp;1">
  <input type="checkbox" name="rememberMe">
  <button name="login" type="submit">Sign In</button>
</form></body></html>"""


def page(html: str, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, text=html, headers={"content-type": "text/html", **headers})


def redirect(location: str, **headers: str) -> httpx.Response:
    return httpx.Response(302, headers={"location": location, **headers})


def scripted(
    handler: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request] | None = None
) -> httpx.AsyncClient:
    def record(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            request.read()
            seen.append(request)
        return handler(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(record))


def simple_idp(
    action: str = "/login?session_code=1&amp;tab_id=2", method: str = "post"
) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return page(FORM.format(action=action, method=method))
        return redirect("http://127.0.0.1/callback?state=s&iss=http%3A%2F%2Fidp.test&code=c-1")

    return handle


async def test_it_fills_in_the_form_and_returns_the_redirect_unfollowed():
    seen: list[httpx.Request] = []
    async with scripted(simple_idp(), seen) as http:
        result = await log_in(http, AUTH, "alice", "alice-pass")
    assert result == AuthorizationResponse(
        code="c-1",
        state="s",
        iss="http://idp.test",
        location="http://127.0.0.1/callback?state=s&iss=http%3A%2F%2Fidp.test&code=c-1",
    )
    assert [r.method for r in seen] == ["GET", "POST"]  # nothing went to 127.0.0.1
    post = seen[1]
    assert str(post.url) == f"{IDP}/login?session_code=1&tab_id=2"  # absolute, unescaped
    assert parse_qs(post.content.decode(), keep_blank_values=True) == {
        "username": ["alice"],
        "password": ["alice-pass"],
        "credentialId": [""],
        "csrf": ["t&1"],
    }  # hidden inputs go along; the unchecked box and the button do not


async def test_it_never_posts_the_password_to_another_origin():
    seen: list[httpx.Request] = []
    async with scripted(simple_idp(action="http://evil.test/steal"), seen) as http:
        with pytest.raises(LoginFailed, match="posts to http://evil.test, not to the IdP"):
            await log_in(http, AUTH, "alice", "alice-pass")
    assert [r.url.host for r in seen] == ["idp.test"]


async def test_it_never_puts_the_password_in_a_url():
    seen: list[httpx.Request] = []
    async with scripted(simple_idp(method="get"), seen) as http:
        with pytest.raises(LoginFailed, match="does not use POST"):
            await log_in(http, AUTH, "alice", "alice-pass")
    assert len(seen) == 1


async def test_it_stops_at_the_client_redirect_even_on_the_idps_origin():
    auth = f"{IDP}/auth?redirect_uri=http%3A%2F%2Fidp.test%2Fcb"
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        return redirect(f"{IDP}/cb?code=c-2&state=s")  # already logged in (SSO)

    async with scripted(handle, seen) as http:
        result = await log_in(http, auth, "alice", "x")
    assert result.code == "c-2" and len(seen) == 1


async def test_a_loopback_redirect_uri_matches_on_any_port():
    def handle(request: httpx.Request) -> httpx.Response:
        return redirect("http://127.0.0.1:53682/callback?code=c-3")

    async with scripted(handle) as http:
        assert (await log_in(http, AUTH, "alice", "x")).code == "c-3"


async def test_it_follows_the_idps_own_redirects_with_get_and_keeps_its_cookies():
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/realms/r/auth":
            return redirect("/realms/r/login", **{"set-cookie": "SID=abc; Path=/realms/r/"})
        if request.url.path == "/realms/r/login" and request.method == "GET":
            return page(FORM.format(action="/realms/r/login", method="post"))
        assert request.headers["cookie"] == "SID=abc"
        return redirect("http://127.0.0.1/callback?code=c-4")

    async with scripted(handle, seen) as http:
        assert (await log_in(http, AUTH, "alice", "x")).code == "c-4"
    assert [(r.method, r.url.path) for r in seen] == [
        ("GET", "/realms/r/auth"),
        ("GET", "/realms/r/login"),
        ("POST", "/realms/r/login"),
    ]


async def test_cookies_go_back_only_on_their_path_and_deleted_ones_not_at_all():
    cookies: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        cookies.append(request.headers.get("cookie", ""))
        if request.url.path == "/realms/r/auth":
            set_cookies = [
                "A=1; Version=1; Path=/realms/r/; Secure; HttpOnly",
                "B=2; Path=/elsewhere/",
                "C=3; Path=/",
                "D=4; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            ]
            return httpx.Response(
                200,
                text=FORM.format(action="/realms/r/login", method="post"),
                headers=[("content-type", "text/html")] + [("set-cookie", c) for c in set_cookies],
            )
        return redirect("http://127.0.0.1/callback?code=c")

    async with scripted(handle) as http:
        await log_in(http, AUTH, "alice", "x")
    assert cookies == ["", "A=1; C=3"]  # Secure sent (a loopback lab), B off path, D expired


async def test_the_callers_cookie_jar_is_never_sent():
    cookies: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        cookies.append(request.headers.get("cookie"))
        return simple_idp()(request)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(handle), cookies={"KEYCLOAK_IDENTITY": "someone-else"}
    ) as http:
        await log_in(http, AUTH, "alice", "x")
    assert cookies == [None, None]


async def test_an_error_redirect_is_a_login_failure_with_the_error():
    def handle(request: httpx.Request) -> httpx.Response:
        return redirect(
            "http://127.0.0.1/callback?error=invalid_request"
            "&error_description=Missing+parameter%3A+code_challenge_method&state=s"
        )

    async with scripted(handle) as http:
        with pytest.raises(LoginFailed) as failed:
            await log_in(http, AUTH, "alice", "x")
    assert failed.value.error == "invalid_request"
    assert failed.value.error_description == "Missing parameter: code_challenge_method"
    assert "invalid_request: Missing parameter: code_challenge_method" in failed.value.reason


async def test_a_redirect_without_a_code_is_a_login_failure():
    async with scripted(lambda r: redirect("http://127.0.0.1/callback?state=s")) as http:
        with pytest.raises(LoginFailed, match="without a code"):
            await log_in(http, AUTH, "alice", "x")


async def test_a_redirect_to_a_third_site_is_not_followed():
    seen: list[httpx.Request] = []
    async with scripted(lambda r: redirect("http://tracker.test/x"), seen) as http:
        with pytest.raises(LoginFailed, match="away to http://tracker.test"):
            await log_in(http, AUTH, "alice", "x")
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://[::1/x", "the IdP's answer is malformed"),
        ("http://idp.test:x/", "the IdP's answer is malformed"),
        ("http://127.0.0.1:99999/callback?code=c", "away to http://127.0.0.1:99999"),
    ],
)
async def test_a_malformed_redirect_is_a_login_failure(location, reason):
    async with scripted(lambda r: redirect(location)) as http:
        with pytest.raises(LoginFailed, match=re.escape(reason)):
            await log_in(http, AUTH, "alice", "x")


async def test_the_fragment_response_mode_is_read():
    async with scripted(lambda r: redirect("http://127.0.0.1/callback#state=s&code=c-5")) as http:
        result = await log_in(http, AUTH, "alice", "x")
    assert (result.code, result.state) == ("c-5", "s")


async def test_a_page_without_a_login_form_is_a_failure():
    async with scripted(lambda r: page("<html><p>hello</p></html>")) as http:
        with pytest.raises(LoginFailed, match="no login form"):
            await log_in(http, AUTH, "alice", "x")


async def test_the_form_coming_back_means_the_login_was_refused():
    def handle(request: httpx.Request) -> httpx.Response:
        error = '<span class="kc-feedback-text">Invalid username or password.</span>'
        return page(FORM.format(action="/login", method="post") + error)

    async with scripted(handle) as http:
        with pytest.raises(LoginFailed) as failed:
            await log_in(http, AUTH, "alice", "wrong")
    assert failed.value.reason == "the IdP refused the login: Invalid username or password."


async def test_an_error_page_gives_its_message():
    html = '<div id="kc-error-message"><p class="instruction">Client not found.</p></div>'
    async with scripted(lambda r: page(html, status=400)) as http:
        with pytest.raises(LoginFailed) as failed:
            await log_in(http, AUTH, "alice", "x")
    assert failed.value.status == 400
    assert failed.value.reason == "the IdP showed an error page (HTTP 400): Client not found."


async def test_a_json_error_gives_its_error():
    body = httpx.Response(404, json={"error": "Realm does not exist"})
    async with scripted(lambda r: body) as http:
        with pytest.raises(LoginFailed, match="HTTP 404: Realm does not exist"):
            await log_in(http, AUTH, "alice", "x")


async def test_a_redirect_loop_is_cut_off():
    seen: list[httpx.Request] = []
    async with scripted(lambda r: redirect(f"{IDP}/again"), seen) as http:
        with pytest.raises(LoginFailed, match=f"after {MAX_STEPS} requests"):
            await log_in(http, AUTH, "alice", "x")
    assert len(seen) == MAX_STEPS


async def test_a_huge_page_is_cut_off():
    huge = page("<html>" + "x" * (MAX_PAGE_BYTES + 1))
    async with scripted(lambda r: huge) as http:
        with pytest.raises(LoginFailed, match="larger than"):
            await log_in(http, AUTH, "alice", "x")


async def test_an_unreachable_idp_is_a_login_failure():
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with scripted(handle) as http:
        with pytest.raises(LoginFailed, match="cannot reach the IdP at http://idp.test"):
            await log_in(http, AUTH, "alice", "x")


async def test_an_idp_that_times_out_is_named_with_the_kind_of_failure():
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("", request=request)     # httpx's timeouts say nothing

    async with scripted(handle) as http:
        with pytest.raises(LoginFailed, match=r"cannot reach the IdP at http://idp\.test: "
                                              r"ConnectTimeout$"):
            await log_in(http, AUTH, "alice", "x")


async def test_it_logs_in_at_the_embedded_idp_over_a_real_socket():
    from stack.idp import EmbeddedIdP

    async with EmbeddedIdP() as idp, IdPTestClient.remote(idp.base_url) as kc:
        response, request = await kc.authorize("dave")
        assert response.iss == idp.issuer and response.state == request.state
        assert (await kc.redeem(response.code, request.code_verifier)).status_code == 200


async def test_two_logins_through_one_client_do_not_share_a_session(kc):
    first, _ = await kc.authorize("alice")
    second, _ = await kc.authorize("bob")
    session = {k: v[0] for k, v in parse_qs(first.location.split("?", 1)[1]).items()}
    other = {k: v[0] for k, v in parse_qs(second.location.split("?", 1)[1]).items()}
    assert session["session_state"] != other["session_state"]

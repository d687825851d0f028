"""A real provider key must never reach the wire view or an export, and redacting it must
not rewrite ordinary text.

The Redactor used to replace every occurrence of the configured secret as a substring:
a key that is also a word ("assistant", "banana") mangled every prompt and answer that used
it, and a short key was cut out of the middle of longer tokens. Now a secret is replaced as a
whole credential: the whole value, after an auth scheme or a key name, or (when it looks like
a key rather than a word) wherever it stands alone.
"""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from runtime.wire import REDACTED, Redactor

key_like = st.from_regex(r"[a-z]{2,4}-[A-Za-z0-9]{2,12}|[A-Za-z0-9]{6,12}[0-9]", fullmatch=True)
words = st.sampled_from(["assistant", "banana", "expenses", "the", "report", "Alice",
                         "monitor", "approve", "notes"]) | st.from_regex(r"[a-z]{3,12}",
                                                                         fullmatch=True)
CREDENTIAL_POSITIONS = ["Bearer {}", "Authorization: Bearer {}", "DPoP {}", "api_key={}&x=1",
                        '{{"api_key": "{}"}}', "x-api-key: {}", "token {}", "{}"]
STANDALONE = ["key {}.", "({})", "the key is {} - keep it", "'{}'", "{},{}"]
INSIDE_LONGER_TOKENS = ["x{}", "{}x", "{}.abc", "a-{}", "{}_2", "{}/path", "{}=="]
PROSE = ["Please {} the {} now.", "{} and {}: what a day", "I said {}, {}!"]


@given(secret=key_like, where=st.sampled_from(CREDENTIAL_POSITIONS + STANDALONE),
       inside=st.sampled_from(INSIDE_LONGER_TOKENS))
def test_a_key_is_redacted_where_it_stands_alone_but_not_inside_a_longer_token(
    secret, where, inside
):
    assume(secret not in where.replace("{}", ""))
    redact = Redactor((secret,))
    assert redact(where.format(secret, secret)) == where.format(REDACTED, REDACTED)
    assert redact(inside.format(secret)) == inside.format(secret)


@given(secret=words, other=words, where=st.sampled_from(CREDENTIAL_POSITIONS),
       prose=st.sampled_from(PROSE))
def test_a_word_used_as_a_key_is_redacted_as_a_credential_but_not_in_prose(
    secret, other, where, prose
):
    assume(secret.lower() not in where.lower().replace("{}", ""))
    redact = Redactor((secret,))
    assert redact(where.format(secret)) == where.format(REDACTED)
    assert redact(prose.format(secret, other)) == prose.format(secret, other)


def test_the_examples_of_the_issue():
    short = Redactor(("sk-abc",))
    assert short("Authorization: Bearer sk-abc") == f"Authorization: Bearer {REDACTED}"
    assert short("task-abcd and sk-abcdef") == "task-abcd and sk-abcdef"
    word = Redactor(("assistant",))
    assert word("You are Acme's assistant.") == "You are Acme's assistant."
    assert word("Bearer assistant") == f"Bearer {REDACTED}"
    # and a real OpenAI-shaped key is redacted wherever it appears, configured or not
    assert Redactor()("echo sk-proj-abcdefghijklmnop0123") == f"echo {REDACTED}"

import pytest

from runtime.settings import Settings, SettingsError


def test_defaults_are_embedded_and_scripted():
    settings = Settings.from_env({})
    assert settings.stack == "embedded" and settings.scripted


def test_environment_and_overrides_combine_with_overrides_winning():
    env = {"AGENT_AUTH_STACK": "external", "KEYCLOAK_URL": "http://127.0.0.1:9999"}
    settings = Settings.from_env(env, stack="embedded")
    assert settings.stack == "embedded"
    assert settings.issuer == "http://127.0.0.1:9999/realms/agentauth"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AGENT_AUTH_STACK": "cloud"}, "stack must be"),
        ({"KEYCLOAK_URL": "ftp://x"}, "keycloak_url must be"),
        ({"AGENT_AUTH_TIMEOUT": "soon"}, "must be a number"),
        ({"AGENT_AUTH_TIMEOUT": "-1"}, "timeouts must be positive"),
        ({"AGENT_AUTH_TIMEOUT": "nan"}, "timeouts must be positive"),
        ({"AGENT_AUTH_LLM_TIMEOUT": "inf"}, "timeouts must be positive"),
        ({"AGENT_AUTH_LLM_RETRIES": "two"}, "must be a whole number"),
        ({"AGENT_AUTH_LLM_RETRIES": "-1"}, "model retries must be"),
        ({"AGENT_AUTH_LLM_MAX_WAIT": "nan"}, "model retries must be"),
        ({"AGENT_AUTH_MODEL": "gpt-4o-mini"}, "needs OPENAI_API_KEY"),
    ],
)
def test_bad_settings_give_clear_errors(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize("name", ["KEYCLOAK_URL", "OPA_URL", "OPENAI_BASE_URL"])
@pytest.mark.parametrize("url", [
    "http://[::1", "http://host:99999", "http://host:port", "ftp://host", "host:8080",
    "http://", "http:///path", "http://a b/", "http://host\n.example/", "file:///etc/passwd",
])
def test_a_malformed_url_is_a_clear_error_not_a_first_request_traceback(name, url):
    with pytest.raises(SettingsError, match=name.lower()):
        Settings.from_env({name: url, "AGENT_AUTH_MODEL": "m", "OPENAI_API_KEY": "k"})


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "https://kc.example.org/auth",
                                 "http://[::1]:8181", "http://localhost:11434/v1"])
def test_usable_urls_pass(url):
    settings = Settings.from_env({"KEYCLOAK_URL": url, "OPA_URL": url, "OPENAI_BASE_URL": url})
    assert settings.keycloak_url == settings.opa_url == settings.openai_base_url == url


def test_model_retry_bounds_come_from_the_environment():
    settings = Settings.from_env({"AGENT_AUTH_LLM_RETRIES": "0", "AGENT_AUTH_LLM_MAX_WAIT": "2.5"})
    assert (settings.llm_retries, settings.llm_max_wait) == (0, 2.5)
    assert (Settings().llm_retries, Settings().llm_max_wait) == (2, 10.0)


def test_real_model_key_is_not_in_repr():
    settings = Settings.from_env({"AGENT_AUTH_MODEL": "gpt-4o-mini",
                                  "OPENAI_API_KEY": "sk-secret-value-123456789"})
    assert "sk-secret" not in repr(settings)
    assert not settings.scripted

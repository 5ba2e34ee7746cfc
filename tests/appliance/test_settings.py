"""Settings: typed from env and TOML, every problem reported at once, secrets never printed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.settings import MASK, SettingsError, effective_settings, load_settings

SMTP_PASSWORD = "smtp-pass-Zq81"
OIDC_SECRET = "oidc-secret-Wx42"
DB_PASSWORD = "db-pass-Hk07"
REDIS_PASSWORD = "redis-pass-Jm93"


def appliance_command() -> str:
    """The console script of the environment running the tests (there is no `python -m appliance`)."""
    beside_python = Path(sys.executable).parent / "appliance"
    found = str(beside_python) if beside_python.exists() else shutil.which("appliance")
    assert found, "the `appliance` console script is not installed in this environment"
    return found


def run_appliance(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI with only the given APPLIANCE_* settings (none inherited from whoever runs the tests)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    return subprocess.run(
        [appliance_command(), *args], env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False
    )


def test_env_vars_are_parsed_into_typed_values(tmp_path: Path) -> None:
    environ = {
        "APPLIANCE_DATA_DIR": str(tmp_path / "data"),
        "APPLIANCE_HTTP_PORT": "8080",
        "APPLIANCE_HTTP_SECURE_COOKIES": "false",
        "APPLIANCE_HTTP_TRUSTED_PROXIES": "10.0.0.1, 10.1.0.0/16",
        "APPLIANCE_SESSION_IDLE_MINUTES": "15",
        "APPLIANCE_SMTP_TLS": "tls",
        "APPLIANCE_KEYRING": "/etc/appliance/keyring.json",
        "APPLIANCE_LOG_FORMAT": "console",
    }

    settings = load_settings(environ)

    assert settings.data.dir == tmp_path / "data"
    assert settings.http.port == 8080
    assert settings.http.secure_cookies is False
    assert settings.http.trusted_proxies == ("10.0.0.1", "10.1.0.0/16")
    assert settings.session.idle_minutes == 15
    assert settings.smtp.tls == "tls"
    assert settings.keyring_path == Path("/etc/appliance/keyring.json")
    assert settings.log.format == "console"
    assert settings.database_url == f"sqlite:///{(tmp_path / 'data' / 'appliance.db').resolve()}"
    assert settings.embedded is True


def test_toml_file_is_read_and_env_wins_over_it(tmp_path: Path) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text(
        '[http]\nport = 9000\nmax_body_kb = 64\n\n'
        '[smtp]\nhost = "smtp.example.com"\nfrom = "前台 <desk@example.com>"\nport = 465\n\n'
        '[redis]\nurl = "redis://127.0.0.1:6379/2"\n',
        encoding="utf-8",
    )

    settings = load_settings({"APPLIANCE_CONFIG": str(config), "APPLIANCE_HTTP_PORT": "8081"})

    assert settings.http.port == 8081
    assert settings.http.max_body_kb == 64
    assert settings.smtp.host == "smtp.example.com"
    assert settings.smtp.sender == "前台 <desk@example.com>"
    assert settings.smtp.port == 465
    assert settings.redis.url == "redis://127.0.0.1:6379/2"
    assert settings.embedded is False


def test_every_problem_is_reported_at_once() -> None:
    environ = {
        "APPLIANCE_HTTP_PROT": "8080",
        "APPLIANCE_HTTP_PORT": "eighty",
        "APPLIANCE_LOG_FORMAT": "xml",
        "APPLIANCE_REDIS_URL": "http://127.0.0.1:6379/0",
    }

    with pytest.raises(SettingsError) as raised:
        load_settings(environ)

    problems = raised.value.problems
    assert len(problems) == 4
    assert any(p.startswith("APPLIANCE_HTTP_PROT:") and "unknown setting" in p for p in problems)
    assert any(p.startswith("APPLIANCE_HTTP_PORT=") and "int" in p for p in problems)
    assert any(p.startswith("APPLIANCE_LOG_FORMAT=") and "'json', 'console'" in p for p in problems)
    assert any(p.startswith("APPLIANCE_REDIS_URL:") and "redis://" in p for p in problems)
    assert all(p in str(raised.value) for p in problems)


def test_unknown_toml_section_and_key_are_reported_with_env_problems(tmp_path: Path) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text('[htp]\nport = 1\n\n[smtp]\nsender = "desk@example.com"\n', encoding="utf-8")

    with pytest.raises(SettingsError) as raised:
        load_settings(
            {"APPLIANCE_CONFIG": str(config), "APPLIANCE_HTTP_MAX_BODY_KB": "0", "APPLIANCE_HTTP_KEEP_ALIVE_SECONDS": "0"}
        )

    assert sorted(raised.value.problems) == [
        "APPLIANCE_HTTP_KEEP_ALIVE_SECONDS: must be at least 1",
        "APPLIANCE_HTTP_MAX_BODY_KB: must be at least 1",
        "config file [smtp] sender: unknown setting",
        "config file: unknown section [htp]",
    ]


def test_effective_settings_mask_secrets_and_url_passwords() -> None:
    settings = load_settings(
        {
            "APPLIANCE_SMTP_HOST": "smtp.example.com",
            "APPLIANCE_SMTP_FROM": "desk@example.com",
            "APPLIANCE_SMTP_PASSWORD": SMTP_PASSWORD,
            "APPLIANCE_OIDC_ISSUER": "https://sso.example.com",
            "APPLIANCE_OIDC_CLIENT_ID": "appliance",
            "APPLIANCE_OIDC_CLIENT_SECRET": OIDC_SECRET,
            "APPLIANCE_DATABASE_URL": f"postgresql://appliance:{DB_PASSWORD}@db.internal:5432/appliance",
            "APPLIANCE_REDIS_URL": f"redis://:{REDIS_PASSWORD}@cache.internal:6379/0",
        }
    )

    shown = dict(effective_settings(settings))

    printed = "\n".join(f"{k}={v}" for k, v in shown.items())
    for secret in (SMTP_PASSWORD, OIDC_SECRET, DB_PASSWORD, REDIS_PASSWORD):
        assert secret not in printed
    assert shown["APPLIANCE_SMTP_PASSWORD"] == MASK
    assert shown["APPLIANCE_OIDC_CLIENT_SECRET"] == MASK
    assert shown["APPLIANCE_DATABASE_URL"] == f"postgresql://appliance:{MASK}@db.internal:5432/appliance"
    assert shown["APPLIANCE_REDIS_URL"] == f"redis://:{MASK}@cache.internal:6379/0"
    assert shown["APPLIANCE_OIDC_CLIENT_ID"] == "appliance"


def test_effective_settings_mask_a_password_given_in_the_url_query() -> None:
    settings = load_settings(
        {
            "APPLIANCE_DATABASE_URL": f"postgresql://appliance@db.internal/appliance?password={DB_PASSWORD}&sslmode=require",
            "APPLIANCE_REDIS_URL": f"redis://cache.internal:6379/0?password={REDIS_PASSWORD}",
        }
    )

    shown = dict(effective_settings(settings))

    assert DB_PASSWORD not in shown["APPLIANCE_DATABASE_URL"]
    assert "sslmode=require" in shown["APPLIANCE_DATABASE_URL"]
    assert REDIS_PASSWORD not in shown["APPLIANCE_REDIS_URL"]


def test_a_bad_secret_value_is_not_echoed(tmp_path: Path) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text("[smtp]\npassword = 73519024\n\n[oidc]\nclient_secret = [\"oidc-in-a-list\"]\n", encoding="utf-8")

    with pytest.raises(SettingsError) as raised:
        load_settings({"APPLIANCE_CONFIG": str(config), "APPLIANCE_SMTP_PASSWROD": SMTP_PASSWORD})

    message = str(raised.value)
    assert "73519024" not in message
    assert "oidc-in-a-list" not in message
    assert SMTP_PASSWORD not in message
    assert f"config file [smtp] password={MASK}" in message
    assert f"config file [oidc] client_secret={MASK}" in message
    assert "APPLIANCE_SMTP_PASSWROD: unknown setting" in message


def test_a_bad_database_url_is_refused_without_echoing_its_password() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"APPLIANCE_DATABASE_URL": f"mysql://root:{DB_PASSWORD}@db.internal/appliance"})

    assert raised.value.problems == ["APPLIANCE_DATABASE_URL: must start with sqlite:/// or postgresql://"]
    assert DB_PASSWORD not in str(raised.value)


def test_check_prints_the_config_without_secrets_and_names_pending_migrations(tmp_path: Path) -> None:
    result = run_appliance(
        "check",
        env={
            "APPLIANCE_DATA_DIR": str(tmp_path),
            "APPLIANCE_SMTP_PASSWORD": "s3cr3t-value",
            "APPLIANCE_SMTP_HOST": "127.0.0.1",
            "APPLIANCE_SMTP_FROM": "a@example.com",
        },
    )

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "s3cr3t-value" not in output
    assert f"APPLIANCE_SMTP_PASSWORD={MASK}" in result.stdout
    assert "APPLIANCE_SMTP_HOST=127.0.0.1" in result.stdout
    assert re.search(r"\d+ migration\(s\) pending", result.stderr)
    assert "appliance migrate" in result.stderr


def test_check_reports_an_unreachable_database_without_its_password(tmp_path: Path) -> None:
    result = run_appliance(
        "check",
        env={"APPLIANCE_DATA_DIR": str(tmp_path), "APPLIANCE_DATABASE_URL": "postgresql://postgres:pw-not-shown@127.0.0.1:1/x"},
    )

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "pw-not-shown" not in output
    assert "database unreachable" in result.stderr, output
    assert f"APPLIANCE_DATABASE_URL=postgresql://postgres:{MASK}@127.0.0.1:1/x" in result.stdout


def test_repr_of_settings_never_shows_a_secret() -> None:
    settings = load_settings(
        {
            "APPLIANCE_DATABASE_URL": "postgresql://app:db-pass-9@127.0.0.1/appliance",
            "APPLIANCE_REDIS_URL": "redis://:redis-pass-9@127.0.0.1:6379/0",
            "APPLIANCE_SMTP_HOST": "127.0.0.1",
            "APPLIANCE_SMTP_FROM": "booking@example.com",
            "APPLIANCE_SMTP_PASSWORD": "smtp-pass-9",
            "APPLIANCE_OIDC_ISSUER": "https://sso.example.com",
            "APPLIANCE_OIDC_CLIENT_ID": "appliance",
            "APPLIANCE_OIDC_CLIENT_SECRET": "oidc-pass-9",
        }
    )

    shown = repr(settings)

    assert "pass-9" not in shown
    assert "port=8000" in shown and "127.0.0.1" in shown

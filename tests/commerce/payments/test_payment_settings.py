"""How a node is told to take payments: `serve` refuses the stripe provider without
its keys, warns at every start that `builtin` approves every payment, and `livecart
config` never prints Stripe's secrets."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from livecart.config import Settings, load_settings, production_problems, render_toml
from livecart.errors import ConfigError
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LivecartProcess

SAFE = {"LIVECART_AUTH_SECRET": STRONG_SECRET, "LIVECART_AUTH_ADMIN_API_KEY": STRONG_ADMIN_KEY}
STRIPE_KEYS = {
    "LIVECART_STRIPE_SECRET_KEY": "sk_test_0123456789abcdef",
    "LIVECART_STRIPE_PUBLISHABLE_KEY": "pk_test_0123456789abcdef",
    "LIVECART_STRIPE_WEBHOOK_SECRET": "whsec_0123456789abcdef",
}


def test_serve_refuses_stripe_without_its_keys_naming_each(tmp_path: Path) -> None:
    env = {**SAFE, "LIVECART_CHECKOUT_PAYMENT_PROVIDER": "stripe"}
    proc = LivecartProcess(["serve", "--port", "0"], cwd=tmp_path, env=env)
    assert proc.wait() == 2
    for variable in STRIPE_KEYS:
        assert f"set {variable}" in proc.stderr
    assert not (tmp_path / "data").exists()


def test_stripe_keys_that_are_not_stripe_keys_are_problems() -> None:
    settings = load_settings(
        env={
            **STRIPE_KEYS,
            "LIVECART_CHECKOUT_PAYMENT_PROVIDER": "stripe",
            "LIVECART_STRIPE_SECRET_KEY": "pk_test_swapped",
        },
        cwd=Path("/nonexistent"),
    )
    problems = production_problems(settings)
    assert any("stripe.secret_key does not look like" in p for p in problems), problems
    good = load_settings(
        env={**STRIPE_KEYS, "LIVECART_CHECKOUT_PAYMENT_PROVIDER": "stripe"},
        cwd=Path("/nonexistent"),
    )
    assert not [p for p in production_problems(good) if "stripe" in p]


def test_a_stripe_timeout_not_under_the_payment_timeout_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"stripe\.timeout_s"):
        load_settings(
            env={
                **STRIPE_KEYS,
                "LIVECART_CHECKOUT_PAYMENT_PROVIDER": "stripe",
                "LIVECART_STRIPE_TIMEOUT_S": "10",
            },
            cwd=Path("/nonexistent"),
        )


def test_livecart_config_never_prints_stripes_secrets() -> None:
    settings = load_settings(env=STRIPE_KEYS, cwd=Path("/nonexistent"))
    shown = render_toml(settings, redact=True)
    assert STRIPE_KEYS["LIVECART_STRIPE_SECRET_KEY"] not in shown
    assert STRIPE_KEYS["LIVECART_STRIPE_WEBHOOK_SECRET"] not in shown
    assert 'secret_key = "(set, not shown)"' in shown
    assert 'webhook_secret = "(set, not shown)"' in shown
    assert STRIPE_KEYS["LIVECART_STRIPE_PUBLISHABLE_KEY"] in shown  # public by design
    result = subprocess.run(
        [sys.executable, "-m", "livecart", "config"],
        env={**STRIPE_KEYS, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    assert STRIPE_KEYS["LIVECART_STRIPE_SECRET_KEY"] not in result.stdout
    assert STRIPE_KEYS["LIVECART_STRIPE_WEBHOOK_SECRET"] not in result.stdout


def test_serve_warns_at_start_that_builtin_approves_every_payment(
    tmp_path: Path, settings: Settings
) -> None:
    env = {**SAFE, "LIVECART_REDIS_URL": settings.redis.url}
    proc = LivecartProcess(["serve", "--port", "0"], cwd=tmp_path, env=env)
    try:
        proc.wait_for_url()
        warnings = [
            line for line in proc.stderr.splitlines() if "EVERY PAYMENT IS APPROVED" in line
        ]
        assert len(warnings) == 1 and "WARNING" in warnings[0], proc.stderr
    finally:
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0

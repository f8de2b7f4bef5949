"""Secrets: the environment variables that hold them, and cutting them out of output.

Secrets come only from the environment; they are refused on the command
line, in URLs and in the config file, and every line the command writes
goes through a ``Redactor`` that knows their values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..ingress.settings import ENV_INGRESS_CLIENT_SECRET, ENV_INGRESS_PASSWORD
from ..transports.redact import redact, url_secrets
from ..units import valid_text

__all__ = [
    "ENV_CLIENT_SECRET",
    "ENV_IDENTITY",
    "ENV_INGRESS_CLIENT_SECRET",
    "ENV_INGRESS_PASSWORD",
    "ENV_PASSWORD",
    "ENV_PROXY",
    "SECRET_KEYS",
    "Redactor",
    "is_secret_key",
    "redactor_from_env",
]

ENV_PASSWORD = "PIPELINE_COLLECTOR_PASSWORD"  # noqa: S105 - the name of a variable
ENV_IDENTITY = "PIPELINE_COLLECTOR_IDENTITY"
ENV_CLIENT_SECRET = "PIPELINE_COLLECTOR_CLIENT_SECRET"  # noqa: S105
ENV_PROXY = "PIPELINE_COLLECTOR_PROXY"
# The local ingress's own secrets (``ingress --basic USER``, ``--client ID``).

# Config-file keys that name a secret, whatever option they were meant for.
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "client-secret",
        "token",
        "access-token",
        "api-key",
        "access-key-id",
        "secret-access-key",
        "session-token",
        "aws-access-key-id",
        "aws-secret-access-key",
        "aws-session-token",
    }
)


def is_secret_key(key: str) -> bool:
    """Whether a config-file key (long option form) names a secret.

    >>> is_secret_key("client-secret"), is_secret_key("db-password"), is_secret_key("user")
    (True, True, False)
    """
    return key in SECRET_KEYS or "password" in key or "secret" in key


class Redactor:
    """Cuts known secret values out of any text the command writes, in every
    encoding they may take on the wire (``transports.redact.encodings``), and
    escapes lone surrogates, so that every line encodes as UTF-8.

    >>> redact = Redactor(["hunter2"])
    >>> redact("password hunter2 sent"), redact
    ('password <redacted> sent', <Redactor of 1 secrets>)
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        """Know one more secret (too short a value would cut ordinary text)."""
        if secret and len(secret) >= 3 and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        return redact(valid_text(text), self._secrets)

    def __repr__(self) -> str:
        return f"<Redactor of {len(self._secrets)} secrets>"


def redactor_from_env(env: Mapping[str, str], names: Iterable[str]) -> Redactor:
    """A redactor that knows the values of the secret variables ``names``."""
    redactor = Redactor()
    for name in names:
        value = env.get(name)
        redactor.add(value)
        if value and name == ENV_PROXY:  # its password and user:password, as sent
            for secret in url_secrets(value):
                redactor.add(secret)
    return redactor

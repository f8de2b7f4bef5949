"""Django configured once per test process, the same way for every test that needs it.

The old library needs Django's settings configured; the Django tests need a
PostgreSQL database.  Settings can be configured only
once per process, so both go through ``configure()``, and ``use_server``
points the database at the tests' server before its first connection.
"""

from __future__ import annotations

from typing import Any

from psycopg.conninfo import conninfo_to_dict

# Django keeps this very dict as the default connection's settings_dict, so
# filling it in later reaches the connection, as long as none was opened.
DATABASE: dict[str, Any] = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "postgres",
    "USER": "postgres",
    "HOST": "127.0.0.1",
    "PORT": "",
}


def configure() -> None:
    """Configure Django's settings for this process, once."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            USE_TZ=True,
            DATABASES={"default": DATABASE},
        )
        django.setup()


def use_server(dsn: str) -> None:
    """Point Django's default database at the server ``dsn`` names."""
    from django.conf import settings

    configure()
    if settings.DATABASES.get("default") is not DATABASE:
        raise RuntimeError("Django's settings were configured elsewhere; use support.django_env")
    params = conninfo_to_dict(dsn)
    DATABASE.update(
        NAME=params.get("dbname", "postgres"),
        USER=params.get("user", "postgres"),
        HOST=params.get("host", "127.0.0.1"),
        PORT=params.get("port", ""),
    )

"""Open a follower store, and a WeChat client, from the configuration."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from wxsegment.cli._config import ConfigError, Settings
from wxsegment.cli._ledgers import redact_url
from wxsegment.followers import FollowerStore

if TYPE_CHECKING:
    from wxsegment.api import Client

__all__ = ["open_client", "open_store"]


def open_store(url: str) -> FollowerStore:
    """A store for ``url``: ``sqlite:///file`` (or a plain path) or ``postgresql://...``.

    A PostgreSQL URL may name the schema with ``?schema=name`` appended after the DSN's own
    query, as ``postgresql://host/db#schema=name``.
    """
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    try:
        if scheme in ("", "sqlite"):
            from wxsegment.followers import SQLiteFollowerStore

            rest = url.partition("://")[2] if scheme else url
            if scheme and (not rest.startswith("/") or rest == "/"):
                raise ConfigError(f"a SQLite URL is sqlite:///FILE, got {url!r}")
            path = Path(rest[1:] if scheme else rest)
            if not path.parent.exists():
                raise ConfigError(f"store folder {str(path.parent)!r} does not exist")
            return SQLiteFollowerStore(path)
        if scheme in ("postgres", "postgresql"):
            from wxsegment.followers import PostgresFollowerStore

            dsn, _, fragment = url.partition("#")
            schema = fragment.removeprefix("schema=") if fragment else "wxsegment"
            return PostgresFollowerStore(dsn, schema=schema)
    except ImportError as error:
        raise ConfigError(
            f"the store at {redact_url(url)!r} needs an optional extra: {error.msg}"
        ) from None
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(
            f"cannot open the store at {redact_url(url)!r}: {type(error).__name__}: {error}"
        ) from None
    raise ConfigError(
        f"unknown store URL scheme {scheme!r}; expected sqlite:///FILE or postgresql://..."
    )


def open_client(settings: Settings) -> Client:
    """A blocking `wxsegment.api.Client` for the configured appid and secret."""
    from wxsegment.api import Client

    appid = settings.require("appid")
    secret = settings.require("secret")
    if settings.base_url:
        return Client(appid, secret, base_url=settings.base_url)
    return Client(appid, secret)

"""Open a quota ledger from the URL in the configuration."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from wxsegment.cli._config import ConfigError
from wxsegment.quota import DEFAULT_ACCOUNT, NotDurableError, QuotaLedger

__all__ = ["open_ledger", "redact_url"]


def redact_url(url: str) -> str:
    """``url`` with any password replaced, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def _sqlite_path(url: str) -> Path:
    # SQLAlchemy's convention: sqlite:///relative.db and sqlite:////absolute.db.
    rest = url.partition("://")[2]
    if not rest.startswith("/") or rest == "/":
        raise ConfigError(f"a SQLite URL is sqlite:///FILE, got {url!r}")
    return Path(rest[1:])


def _without_durable(url: str) -> tuple[str, bool]:
    """``url`` without its ``durable`` query parameter, and whether durability is required."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    flags = [value for name, value in query if name == "durable"]
    if not flags:
        return url, True
    if flags[-1] not in ("0", "1"):
        raise ConfigError(f"durable in a ledger URL is 0 or 1, got {flags[-1]!r}")
    kept = urlencode([(name, value) for name, value in query if name != "durable"])
    return urlunsplit(parts._replace(query=kept)), flags[-1] == "1"


def open_ledger(url: str, *, account: str | None = None) -> QuotaLedger:
    """A ledger for ``url``: ``sqlite:///file`` (or a plain path), ``postgresql://``, ``redis://``.

    ``redis://...?durable=0`` accepts a Redis server that does not persist every write (tests
    and throwaway data only: a restart there may forget grants and allow a fifth push).
    """
    account = account or DEFAULT_ACCOUNT
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    try:
        if scheme in ("", "sqlite"):
            from wxsegment.quota import SQLiteLedger

            path = _sqlite_path(url) if scheme else Path(url)
            if not path.parent.exists():
                raise ConfigError(f"ledger folder {str(path.parent)!r} does not exist")
            return SQLiteLedger(path, account=account)
        if scheme in ("postgres", "postgresql"):
            from wxsegment.quota import PostgresLedger

            return PostgresLedger(url, account=account)
        if scheme in ("redis", "rediss", "unix"):
            from wxsegment.quota import RedisLedger

            target, durable = _without_durable(url)
            return RedisLedger(target, account=account, require_durable=durable)
    except NotDurableError:
        raise ConfigError(
            f"the Redis server at {redact_url(url)!r} may lose ledger writes on a restart "
            "(enable appendonly with appendfsync everysec and a noeviction policy); "
            "append ?durable=0 to the ledger URL only for tests and throwaway data"
        ) from None
    except ImportError as error:
        raise ConfigError(
            f"the ledger at {redact_url(url)!r} needs an optional extra: {error.msg}"
        ) from None
    except ConfigError:
        raise
    except Exception as error:
        # Backends already redact their own messages; the URL shown here is redacted too.
        raise ConfigError(
            f"cannot open the ledger at {redact_url(url)!r}: {type(error).__name__}: {error}"
        ) from None
    raise ConfigError(
        f"unknown ledger URL scheme {scheme!r}; expected sqlite:///FILE, postgresql://..., redis://..."
    )

"""Settings for the ``wxsegment`` command: a TOML file, then environment variables on top.

Secrets (the appsecret, the callback token and the AES key) are held in `Secret` so that no
repr, log line or error message can show them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

__all__ = ["ENV_PREFIX", "ConfigError", "Secret", "Settings", "load_settings"]

#: Environment variables are named ``WXSEGMENT_<FIELD>``, e.g. ``WXSEGMENT_SECRET``.
ENV_PREFIX: Final = "WXSEGMENT_"

_FIELDS: Final = ("appid", "secret", "token", "aes_key", "ledger", "store", "base_url")
_SECRET_FIELDS: Final = frozenset({"secret", "token", "aes_key"})


class ConfigError(ValueError):
    """The configuration file or an environment variable is unusable."""


@attrs.frozen(repr=False)
class Secret:
    """A configured secret; its value is shown nowhere but to the code that asks for it."""

    _value: str

    def reveal(self) -> str:
        """The secret itself, for the one call that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


@attrs.frozen
class Settings:
    """What the commands need to reach WeChat, the ledger and the store; every field optional."""

    appid: str | None = None
    secret: Secret | None = None
    token: Secret | None = None
    aes_key: Secret | None = None
    ledger: str | None = None
    store: str | None = None
    #: WeChat's API address; set it to a `wxsegment fake serve` URL for tests.
    base_url: str | None = None
    source: str = "defaults"

    def require(self, name: str) -> str:
        """The value of ``name``, or a `ConfigError` that says where to set it."""
        value = getattr(self, name)
        if value is None:
            env = ENV_PREFIX + name.upper()
            raise ConfigError(f"{name} is not configured: set {env} or `{name} = ...` in the file")
        return value.reveal() if isinstance(value, Secret) else str(value)


def _read_toml(path: Path) -> Mapping[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 only
        try:
            import tomli as tomllib
        except ImportError as error:
            raise ConfigError("reading TOML on Python 3.10 needs `pip install tomli`") from error
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        # The decoder's message names a line and column, never a value.
        raise ConfigError(f"configuration file {str(path)!r} is not valid TOML: {error}") from None
    section = data.get("wxsegment", data)
    if not isinstance(section, Mapping):
        raise ConfigError(f"[wxsegment] in {str(path)!r} must be a table")
    return section


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``path`` (TOML; keys at top level or under ``[wxsegment]``), then env."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    sources: list[str] = []
    if path is not None:
        for key, value in _read_toml(path).items():
            if key not in _FIELDS:
                raise ConfigError(
                    f"unknown key {key!r} in {str(path)!r}; expected one of {', '.join(_FIELDS)}"
                )
            if not isinstance(value, str):
                raise ConfigError(f"{key} in {str(path)!r} must be a string")
            values[key] = value
        sources.append(str(path))
    from_env = False
    for key in _FIELDS:
        value = env.get(ENV_PREFIX + key.upper())
        if value:
            values[key] = value
            from_env = True
    if from_env:
        sources.append("environment")
    fields: dict[str, Any] = {
        key: Secret(value) if key in _SECRET_FIELDS else value for key, value in values.items()
    }
    return Settings(**fields, source=" + ".join(sources) or "defaults")

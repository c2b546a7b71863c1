"""One frozen settings object: defaults, then a TOML file, then ``RECSVC_*`` environment variables.

Each section is a frozen dataclass; a TOML table ``[server]`` sets ``Settings.server`` fields and
``RECSVC_SERVER_PORT=50052`` overrides ``server.port``. Secrets (the API token, LLM keys) are read
from the environment only: a secret in the TOML file is refused, so config files can be shared.
A bad value is an ``InvalidArgument`` naming the field at start, never a silent default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from recsvc.config_checks import AT_LEAST_ONE, NON_EMPTY, NOT_BELOW_ZERO, FieldChecks
from recsvc.copy.config import CopyConfig
from recsvc.errors import InvalidArgument
from recsvc.experiments.assignment import GlobalControl
from recsvc.experiments.config import BanditConfig
from recsvc.experiments.definitions import Experiment, experiments_from_settings, validate_experiments
from recsvc.feedback.config import FeedbackConfig
from recsvc.frequency.config import FrequencyConfig
from recsvc.lifecycle.config import LifecycleConfig
from recsvc.outcomes.config import AttributionConfig
from recsvc.recs.config import RecsConfig
from recsvc.store.config import PASSWORD_ENV, PostgresConfig
from recsvc.timing.config import TimingConfig

ENV_PREFIX = "RECSVC_"
SECRET_ENV = ("RECSVC_API_TOKEN", *PASSWORD_ENV)


def _section_checks(section: object, name: str, got: Callable[[Any], str] | None = None) -> FieldChecks:
    """Checks whose messages and fields carry the section's name (``server.port``)."""
    return FieldChecks(section, prefix=f"{name}.", field_prefix=f"{name}.", got=got)


@dataclass(frozen=True)
class ServerConfig:
    """Network settings. Binds to localhost unless told otherwise."""

    host: str = "127.0.0.1"
    port: int = 50051
    max_workers: int = 16
    processes: int = 1  # >1: several server processes share the port (SO_REUSEPORT)
    grace_s: float = 5.0  # SIGTERM drain time
    drain_s: float = 30.0  # after the grace, how long shutdown waits for handlers still running before closing
    tls_cert: str = ""
    tls_key: str = ""
    max_events_per_call: int = 10_000
    max_users_per_call: int = 10_000  # ScoreUsers ids and UpsertUsers rows
    max_items_per_call: int = 10_000  # UpsertItems rows
    max_message_mb: int = 64
    metrics_port: int = 0  # Prometheus metrics over HTTP on server.host at this port (0 = off)

    def validate(self) -> None:
        c = _section_checks(self, "server")
        c.require(0 <= self.port <= 65535, "port", f"must be 0..65535, got {self.port}")
        c.require(
            0 <= self.metrics_port <= 65535, "metrics_port", f"must be 0..65535 (0 = off), got {self.metrics_port}"
        )
        c.require(
            self.metrics_port == 0 or self.metrics_port != self.port,
            "metrics_port",
            f"must differ from server.port ({self.port})",
        )
        c.each(AT_LEAST_ONE, "max_workers")
        c.each(NOT_BELOW_ZERO, "drain_s")
        c.each(
            AT_LEAST_ONE,
            "processes",
            "max_events_per_call",
            "max_users_per_call",
            "max_items_per_call",
            "max_message_mb",
        )
        c.require(bool(self.tls_cert) == bool(self.tls_key), "tls_cert", "and server.tls_key go together")
        for name in ("tls_cert", "tls_key"):
            p = getattr(self, name)
            if p and not Path(p).is_file():
                raise InvalidArgument(f"server.{name}: no such file {p}", field=f"server.{name}")


@dataclass(frozen=True)
class PathsConfig:
    """Where state lives: the store, model artifacts and the demo data."""

    store: str = "var/recsvc.db"  # a SQLite file, or postgresql://user@host:port/db (see [postgres])
    models_dir: str = "models"
    data_dir: str = "var/demo"

    def validate(self) -> None:
        _section_checks(self, "paths").each(NON_EMPTY, "store", "models_dir", "data_dir")


@dataclass(frozen=True)
class EngineConfig:
    """Request limits and defaults of Recommend."""

    default_candidates: int = 5
    max_candidates: int = 100
    max_user_id_len: int = 128
    recently_pushed_days: int = 7
    candidate_ttl_hours: int = 24
    reload_interval_s: float = 30.0  # how often the server looks for new model versions
    candidate_cache_s: float = 600.0  # how long a user's ranked candidates are reused (0 = never)
    candidate_cache_size: int = 200_000
    warm_on_load: bool = True  # precompute every known user's candidates after models load
    item_sync_s: float = 1.0  # how often a process picks up items other processes upserted (0 = every request)
    score_chunk_users: int = 500  # bulk scoring reads and scores this many users at a time
    bulk_wait_s: float = 30.0  # a ScoreUsers call waits this long for the one running before RESOURCE_EXHAUSTED
    item_url_template: str = "https://shop.example.com/item/{item_id}"  # the item link a message may carry
    api_experiments: bool = True  # apply experiments declared through the API (CreateExperiment) too
    experiments_refresh_s: float = 5.0  # how often a process reads the API's experiments again

    def item_url(self, item_id: str) -> str:
        """The link to an item's page that copy may carry: ``item_url_template`` with the id filled in."""
        return self.item_url_template.format(item_id=item_id)

    def validate(self) -> None:
        c = _section_checks(self, "engine")
        c.require(
            1 <= self.default_candidates <= self.max_candidates, "default_candidates", "must be in 1..max_candidates"
        )
        c.each(AT_LEAST_ONE, "max_user_id_len")
        c.each(NOT_BELOW_ZERO, "item_sync_s")
        c.each(AT_LEAST_ONE, "score_chunk_users")
        c.each(NOT_BELOW_ZERO, "bulk_wait_s", "experiments_refresh_s")
        self._validate_item_url_template()

    def _validate_item_url_template(self) -> None:
        field = "engine.item_url_template"
        if "{item_id}" not in self.item_url_template:
            raise InvalidArgument(f"{field} must contain {{item_id}}, got {self.item_url_template!r}", field=field)
        try:
            self.item_url("")
        except (KeyError, IndexError, ValueError) as exc:  # another placeholder, or a stray brace
            raise InvalidArgument(
                f"{field}: {self.item_url_template!r} is not a template with only {{item_id}} ({exc!r}); "
                "write a literal brace as {{ or }}",
                field=field,
            ) from None


@dataclass(frozen=True)
class LimitsConfig:
    """Per-field API input limits: a value over one is refused with INVALID_ARGUMENT naming the field.

    Lengths count characters (payload: UTF-8 bytes). User ids use ``engine.max_user_id_len`` and
    batch sizes the ``server.max_*_per_call`` settings.
    """

    max_id_len: int = 128  # event_id, item_id, campaign_id, variant, cart item ids, attribute names
    max_text_len: int = 200  # short text: city, locale, category, currency, tags, time zone, names, offer
    max_title_len: int = 200  # item title (it reaches the copywriter's prompt)
    max_description_len: int = 4000
    max_url_len: int = 2048
    max_query_len: int = 1000  # Recommend context.query; the text AssistantReply retrieves for is cut to it
    max_list_len: int = 100  # tags, cities, cart_item_ids, allowed_channels
    max_attributes: int = 64  # item attributes per item
    max_attribute_len: int = 1000  # one attribute value
    max_payload_bytes: int = 16384  # event payload (JSON)
    max_payload_depth: int = 32  # nesting of the event payload's arrays and objects
    max_amount: float = 1e9  # item price and event value (both 0..max_amount)
    max_turns: int = 50  # AssistantReply conversation turns
    max_turn_len: int = 4000  # one AssistantReply turn

    def validate(self) -> None:
        _section_checks(self, "limits", got=str).each(AT_LEAST_ONE, *(f.name for f in dataclasses.fields(self)))


@dataclass(frozen=True)
class Settings:
    """Everything the service reads at start; build with :func:`load_settings`."""

    server: ServerConfig = field(default_factory=ServerConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    recs: RecsConfig = field(default_factory=RecsConfig)
    copy: CopyConfig = field(default_factory=CopyConfig)
    timing: TimingConfig = field(default_factory=TimingConfig)
    frequency: FrequencyConfig = field(default_factory=FrequencyConfig)
    postgres: PostgresConfig = field(default_factory=PostgresConfig)
    attribution: AttributionConfig = field(default_factory=AttributionConfig)
    global_control: GlobalControl = field(default_factory=GlobalControl)  # users never pushed, for the lift of it all
    bandit: BanditConfig = field(default_factory=BanditConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)  # effects of feedback reasons, the survey
    experiments: tuple[Experiment, ...] = ()  # the [[experiments]] tables of the settings file
    api_token: str = field(default="", repr=False)  # from RECSVC_API_TOKEN only

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            section = getattr(self, f.name)
            if hasattr(section, "validate"):
                section.validate()
        validate_experiments(self.experiments)

    def with_overrides(self, **sections: Any) -> Settings:
        """A copy with some sections or fields replaced (``server={"port": 0}``), validated."""
        values: dict[str, Any] = {}
        for name, val in sections.items():
            cur = getattr(self, name)
            values[name] = dataclasses.replace(cur, **val) if isinstance(val, Mapping) else val
        out = dataclasses.replace(self, **values)
        out.validate()
        return out


T = TypeVar("T")


def _coerce(value: Any, typ: Any, name: str) -> Any:
    """Convert a TOML or environment value to the field's declared type, or say which field."""
    origin = typing.get_origin(typ)
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            s = str(value).strip().lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if typ is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if typ is float:
            return float(value)
        if typ is str:
            return str(value)
        if origin is tuple:
            raw = value.split(",") if isinstance(value, str) else list(value)
            items = [i.strip() if isinstance(i, str) else i for i in raw if i != ""]
            args = typing.get_args(typ)
            if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]
                return tuple(_coerce(i, args[0], name) for i in items)
            if len(items) != len(args):
                raise ValueError(value)
            return tuple(_coerce(i, a, name) for i, a in zip(items, args, strict=True))
        if origin is dict or typ is dict:
            if not isinstance(value, Mapping):
                raise ValueError(value)
            return dict(value)
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(typ) if a is not type(None)]
            return _coerce(value, members[0], name)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name}: cannot use {value!r} as {getattr(typ, '__name__', typ)}", field=name) from None
    return value


def _build(cls: type[T], values: Mapping[str, Any], prefix: str) -> T:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, val in values.items():
        if key not in known:
            raise InvalidArgument(f"unknown setting {prefix}{key}", field=f"{prefix}{key}")
        typ = hints[key]
        if dataclasses.is_dataclass(typ):
            if not isinstance(val, Mapping):
                raise InvalidArgument(f"{prefix}{key} must be a table", field=f"{prefix}{key}")
            kwargs[key] = _build(typ, val, f"{prefix}{key}.")  # type: ignore[arg-type]
        else:
            kwargs[key] = _coerce(val, typ, f"{prefix}{key}")
    return cls(**kwargs)


def _env_values(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Map ``RECSVC_SECTION_FIELD`` variables onto sections, longest section name first."""
    tables = [f.name for f in dataclasses.fields(Settings) if f.name not in ("api_token", "experiments")]
    sections = sorted(tables, key=len, reverse=True)
    out: dict[str, dict[str, str]] = {}
    for key, val in env.items():
        if not key.startswith(ENV_PREFIX) or key in SECRET_ENV:
            continue
        rest = key[len(ENV_PREFIX) :].lower()
        for sec in sections:
            if rest.startswith(sec + "_"):
                out.setdefault(sec, {})[rest[len(sec) + 1 :]] = val
                break
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, Mapping) else v
    return out


def load_settings(config_file: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the TOML file (``RECSVC_CONFIG`` if none given), then environment variables."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = config_file or env.get("RECSVC_CONFIG")
    if path:
        p = Path(path)
        if not p.is_file():
            raise InvalidArgument(f"config file not found: {p}", field="config")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise InvalidArgument(f"{p}: not valid TOML: {exc}", field="config") from None
        if "api_token" in data:
            raise InvalidArgument("api_token is a secret: set RECSVC_API_TOKEN, not the config file", field="api_token")
        if isinstance(data.get("postgres"), Mapping) and "password" in data["postgres"]:
            raise InvalidArgument(
                "postgres.password is a secret: set RECSVC_POSTGRES_PASSWORD (or PGPASSWORD), not the config file",
                field="postgres.password",
            )
        values = data
    values = _merge(values, _env_values(env))
    experiments = experiments_from_settings(values.pop("experiments", None))  # arrays of tables: no env form
    settings = dataclasses.replace(_build(Settings, values, ""), experiments=experiments)
    token = env.get("RECSVC_API_TOKEN", "")
    if token:
        settings = dataclasses.replace(settings, api_token=token)
    settings.validate()
    return settings

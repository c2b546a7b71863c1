from __future__ import annotations

from pathlib import Path

import pytest

from recsvc.errors import InvalidArgument
from recsvc.settings import load_settings


def test_defaults_then_toml_then_env(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[server]\nport = 6000\nhost = "0.0.0.0"\n[engine]\ndefault_candidates = 7\n')
    s = load_settings(cfg, env={"RECSVC_SERVER_PORT": "7000", "RECSVC_API_TOKEN": "s3cr3t-xyz"})
    assert s.server.port == 7000  # env wins over the file
    assert s.server.host == "0.0.0.0"  # the file wins over defaults
    assert s.engine.default_candidates == 7
    assert s.api_token == "s3cr3t-xyz"
    assert "s3cr3t-xyz" not in repr(s)
    assert load_settings(env={}).server.host == "127.0.0.1"  # localhost unless told otherwise


@pytest.mark.parametrize(
    ("toml", "env", "needle"),
    [
        ("[server]\nport = 70000\n", {}, "server.port"),
        ("[server]\nbogus = 1\n", {}, "server.bogus"),
        ("", {"RECSVC_SERVER_PORT": "abc"}, "server.port"),
        ('api_token = "x"\n', {}, "RECSVC_API_TOKEN"),
        ("[frequency]\ndaily_caps = [3, 2, -1, 1]\n", {}, "daily_caps"),
        ("", {"RECSVC_FREQUENCY_WEEKLY_CAPS": "10,6,-3,1"}, "weekly_caps"),
        ('[timing]\ndefault_quiet_hours = "25-3"\n', {}, "quiet_hours"),
        ('[copy]\nmode = "poetry"\n', {}, "mode"),
        ("[limits]\nmax_id_len = 0\n", {}, "limits.max_id_len"),
        ("", {"RECSVC_LIMITS_MAX_AMOUNT": "nan"}, "limits.max_amount"),
        ("[server]\nmax_events_per_call = 0\n", {}, "server.max_events_per_call"),
        ("[server]\nmetrics_port = -1\n", {}, "server.metrics_port"),
        ("", {"RECSVC_SERVER_METRICS_PORT": "50051"}, "server.metrics_port"),  # the gRPC port itself
        ('[engine]\nitem_url_template = "https://x.test/item"\n', {}, "engine.item_url_template"),
        ("", {"RECSVC_ENGINE_ITEM_URL_TEMPLATE": "https://x.test/{sku}"}, "engine.item_url_template"),
    ],
)
def test_bad_settings_name_the_field(tmp_path: Path, toml: str, env: dict[str, str], needle: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    with pytest.raises(InvalidArgument) as info:
        load_settings(cfg, env=env)
    assert needle in str(info.value)


def test_sample_config_loads() -> None:
    sample = Path(__file__).resolve().parents[2] / "recsvc.example.toml"
    s = load_settings(sample, env={})
    assert s.server.port == 50051
    assert s.frequency.daily_caps == (3, 2, 1, 1)


def test_metrics_port_off_by_default_and_from_env() -> None:
    assert load_settings(env={}).server.metrics_port == 0
    assert load_settings(env={"RECSVC_SERVER_METRICS_PORT": "9464"}).server.metrics_port == 9464


def test_tuple_settings_from_env() -> None:
    s = load_settings(env={"RECSVC_FREQUENCY_DAILY_CAPS": "5,3,1,0"})
    assert s.frequency.daily_caps == (5, 3, 1, 0)


def test_item_url_template_default_and_from_env() -> None:
    assert load_settings(env={}).engine.item_url("i-1") == "https://shop.example.com/item/i-1"
    s = load_settings(env={"RECSVC_ENGINE_ITEM_URL_TEMPLATE": "https://x.test/{item_id}/buy"})
    assert s.engine.item_url("i-1") == "https://x.test/i-1/buy"

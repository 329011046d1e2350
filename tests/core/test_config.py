from __future__ import annotations

from pathlib import Path

import pytest

from threadx.core.config import apply_overrides, load_config
from threadx.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "proj" / "configs"
    d.mkdir(parents=True)
    p = d / "threadx.toml"
    p.write_text(text)
    return p


def test_shipped_config_loads_and_resolves_relative_to_file():
    cfg = load_config(REPO / "configs" / "threadx.toml")
    assert cfg.data_root == REPO / "data"
    assert cfg.logs_dir == REPO / "logs"
    assert cfg.cluster.dashboard_host == "127.0.0.1"
    assert cfg.logging.max_bytes == 10 * 1024 * 1024


def test_every_field_has_a_description():
    from threadx.core.config import ThreadXConfig

    def walk(model):
        for name, f in model.model_fields.items():
            assert f.description, f"{model.__name__}.{name} has no description"
            ann = f.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                walk(ann)

    for name, f in ThreadXConfig.model_fields.items():
        if name not in {"source", "base_dir"}:
            walk(f.annotation)


def test_unknown_key_names_file_and_key(tmp_path):
    p = write(tmp_path, "[paths]\ndata_rot = '../data'\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert str(p) in msg and "paths.data_rot" in msg and "unknown key" in msg


def test_unknown_section(tmp_path):
    p = write(tmp_path, "[cluser]\naddress = ''\n")
    with pytest.raises(ConfigError, match="'cluser'"):
        load_config(p)


def test_negative_weight_is_refused(tmp_path):
    p = write(tmp_path, "[devices]\nweights = { '5090' = 0.75, '2060' = -0.25 }\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert "devices.weights" in str(e.value) and "2060" in str(e.value) and "> 0" in str(e.value)


def test_bad_level_and_bad_toml(tmp_path):
    p = write(tmp_path, "[logging]\nlevel = 'LOUD'\n")
    with pytest.raises(ConfigError, match="logging.level"):
        load_config(p)
    p.write_text("[paths\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(p)


def test_absolute_path_outside_project_refused_unless_allowed(tmp_path):
    outside = tmp_path / "elsewhere"
    p = write(tmp_path, f"[paths]\ndata_root = '{outside}'\n")
    cfg = load_config(p)
    with pytest.raises(ConfigError) as e:
        _ = cfg.data_root
    assert "paths.data_root" in str(e.value) and "allow_absolute_paths" in str(e.value)
    p.write_text(f"[paths]\ndata_root = '{outside}'\nallow_absolute_paths = true\n")
    assert load_config(p).data_root == outside.resolve()


def test_relative_escape_refused(tmp_path):
    p = write(tmp_path, "[paths]\ndata_root = '../../../x'\n")
    with pytest.raises(ConfigError, match="outside the project"):
        _ = load_config(p).data_root


def test_absolute_inside_project_ok(tmp_path):
    inside = tmp_path / "proj" / "store"
    p = write(tmp_path, f"[paths]\ndata_root = '{inside}'\n")
    assert load_config(p).data_root == inside


def test_overrides(tmp_path):
    p = write(tmp_path, "[logging]\nlevel = 'INFO'\n")
    cfg = apply_overrides(load_config(p), data_root=str(tmp_path / "d"), log_level="debug")
    assert cfg.data_root == tmp_path / "d"
    assert cfg.logging.level == "DEBUG"
    with pytest.raises(ConfigError, match="logging.level"):
        apply_overrides(load_config(p), log_level="chatty")


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_logging_reaches_rotating_file(tmp_path):
    from threadx.core.log import get_logger, setup_logging

    p = write(tmp_path, "[logging]\nlevel = 'DEBUG'\n")
    cfg = load_config(p)
    path = setup_logging(cfg, console_level=None)
    get_logger("threadx.data.store").debug("hello from a module logger")
    for h in get_logger("threadx").handlers:
        h.flush()
    assert path.parent == tmp_path / "proj" / "logs"
    assert "hello from a module logger" in path.read_text()

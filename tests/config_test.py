from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.errors import ConfigError


def test_defaults_are_the_design_numbers(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config == Config()
    s = config.selection
    assert (s.w_mean, s.w_advantage, s.w_delta, s.formula) == (0.5, 0.3, 0.2, "weighted")


def test_pyproject_table_is_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.augnes]\nseed = 9\n[tool.augnes.selection]\nformula = "v06"\n', encoding="utf-8"
    )
    config = load_config(tmp_path)
    assert config.seed == 9 and config.selection.formula == "v06"


def test_augnes_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.augnes]\nseed = 9\n", encoding="utf-8")
    (tmp_path / "augnes.toml").write_text("seed = 4\n", encoding="utf-8")
    assert load_config(tmp_path).seed == 4


def test_a_bad_value_names_file_field_and_range(tmp_path: Path) -> None:
    (tmp_path / "augnes.toml").write_text("[selection]\nw_mean = 1.5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    message = err.value.message
    assert "augnes.toml" in message and "`selection.w_mean`" in message and "le 1" in message


def test_an_unknown_setting_is_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.augnes]\ngenerations = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[tool.augnes\].*`generations` is not a known setting"):
        load_config(tmp_path)


def test_a_bad_choice_lists_the_allowed_ones(tmp_path: Path) -> None:
    (tmp_path / "augnes.toml").write_text('[selection]\nformula = "v07"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="weighted"):
        load_config(tmp_path)


def test_broken_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    (tmp_path / "augnes.toml").write_text("seed = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="augnes.toml: not valid TOML"):
        load_config(tmp_path)


def test_the_sandbox_settings_are_checked(tmp_path: Path) -> None:
    (tmp_path / "augnes.toml").write_text(
        '[evaluation]\nsandbox = "subprocess"\n[evaluation.limits]\nmemory_mb = 8\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    message = err.value.message
    assert "`evaluation.sandbox`" in message and "'auto', 'bwrap', 'docker' or 'none'" in message
    assert "`evaluation.limits.memory_mb`" in message and "ge 64" in message
    assert Config().evaluation.sandbox == "auto"

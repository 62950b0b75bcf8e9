from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.errors import ManifestError
from bot.manifest import dump_params, niche_key, parse_manifest, parse_params, read_strategy

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["linear", "heuristic", "mlp"])
def test_shipped_strategies_load(name: str) -> None:
    manifest, params = read_strategy(ROOT / "strategies" / name)
    assert manifest.name == name
    assert set(params) == set(manifest.params)


def test_three_families_three_niches() -> None:
    keys = {
        niche_key(*read_strategy(ROOT / "strategies" / n)) for n in ("linear", "heuristic", "mlp")
    }
    assert len({k.split("/")[0] for k in keys}) == 3


def test_max_must_exceed_min_with_file_and_field_named() -> None:
    text = 'name = "s"\nfamily = "s"\nentry = "p.py:f"\n[params.kp]\ntype = "float"\nmin = 2.0\nmax = 1.0\n'
    with pytest.raises(ManifestError) as err:
        parse_manifest(text, source="strategies/s/strategy.toml")
    assert "strategies/s/strategy.toml" in err.value.message
    assert "params.kp" in err.value.message and "greater than `min`" in err.value.message


def test_missing_entry_field_is_named() -> None:
    with pytest.raises(ManifestError, match="`entry`"):
        parse_manifest('name = "s"\nfamily = "s"\n', source="x")


def test_param_values_are_checked_against_declarations() -> None:
    manifest = parse_manifest(
        'name = "s"\nfamily = "s"\nentry = "p.py:f"\n[params.n]\ntype = "int"\nmin = 1\nmax = 3\n',
        source="m",
    )
    assert parse_params('{"n": 2}', manifest, source="p") == {"n": 2}
    with pytest.raises(ManifestError, match="`n` must lie in"):
        parse_params('{"n": 7}', manifest, source="p")
    with pytest.raises(ManifestError, match="must be an integer"):
        parse_params('{"n": 1.5}', manifest, source="p")
    with pytest.raises(ManifestError, match="no value for declared"):
        parse_params("{}", manifest, source="p")
    with pytest.raises(ManifestError, match="not declared"):
        parse_params('{"n": 1, "m": 2}', manifest, source="p")
    with pytest.raises(ManifestError, match="p: not valid JSON"):
        parse_params("{", manifest, source="p")


def test_directory_and_name_must_agree(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "strategies" / "linear", tmp_path / "other")
    with pytest.raises(ManifestError, match="make them equal"):
        read_strategy(tmp_path / "other")


def test_params_text_is_canonical() -> None:
    assert (
        dump_params({"b": 0.123456789, "a": [1.0, 2.5]})
        == '{\n  "a": [\n    1.0,\n    2.5\n  ],\n  "b": 0.123457\n}\n'
    )

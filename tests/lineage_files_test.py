from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import LineageFileError
from bot.lineage_files import (
    append_jsonl,
    atomic_write,
    extend_jsonl,
    jsonl_line,
    load_json,
    locked,
    parse_jsonl,
    read_jsonl,
)
from bot.records import Deferral, StrategyStatsFile


def deferral(n: int) -> Deferral:
    return Deferral(
        ts="t", variant=f"c-{n}", strategy="s", reason="r", generation=n, until_generation=n + 3
    )


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.json"
    atomic_write(path, b"one")
    atomic_write(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_append_then_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    append_jsonl(path, [deferral(1), deferral(2)])
    append_jsonl(path, [deferral(3)])
    records, problems = read_jsonl(path, Deferral)
    assert [r.variant for r in records] == ["c-1", "c-2", "c-3"]
    assert problems == []


def test_a_torn_last_line_is_moved_aside_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    append_jsonl(path, [deferral(1)])
    with path.open("a") as handle:
        handle.write('{"ts": "t", "variant": "c-')  # a crash in the middle of a write
    records, problems = read_jsonl(path, Deferral)
    assert [r.variant for r in records] == ["c-1"]
    assert len(problems) == 1 and "torn last line" in problems[0]
    aside = [p for p in tmp_path.iterdir() if ".torn-" in p.name]
    assert len(aside) == 1 and aside[0].read_text() == '{"ts": "t", "variant": "c-'
    append_jsonl(path, [deferral(2)])  # the next append starts on a clean line
    assert [r.variant for r in read_jsonl(path, Deferral)[0]] == ["c-1", "c-2"]


def test_a_corrupt_middle_line_is_reported_with_its_number_and_the_rest_loads() -> None:
    good = json.dumps(deferral(1).model_dump())
    text = "\n".join([good, '{"ts": 1}', "not json", good.replace("c-1", "c-9")]) + "\n"
    records, problems = parse_jsonl(text, Deferral, source="lineage/d.jsonl")
    assert [r.variant for r in records] == ["c-1", "c-9"]
    assert problems[0].startswith("lineage/d.jsonl:2:")
    assert problems[1].startswith("lineage/d.jsonl:3:")


def test_a_second_writer_is_refused_while_the_lock_is_held(tmp_path: Path) -> None:
    with (
        locked(tmp_path / "w.lock"),
        pytest.raises(LineageFileError, match="another Augnes process"),
        locked(tmp_path / "w.lock", wait=False),
    ):
        pytest.fail("the second lock must not be granted")
    with locked(tmp_path / "w.lock", wait=False):  # free again once released
        pass


def test_load_json_names_file_and_field() -> None:
    with pytest.raises(LineageFileError, match=r"lineage/strategy_stats.json: `generation`"):
        load_json(b'{"generation": "x"}', StrategyStatsFile, source="lineage/strategy_stats.json")


def test_reading_on_from_an_offset_parses_only_the_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    append_jsonl(path, [deferral(1), deferral(2)])
    first, _ = read_jsonl(path, Deferral)
    offset = path.stat().st_size
    append_jsonl(path, [deferral(3)])
    records, problems = read_jsonl(path, Deferral, start=offset, known=first)
    assert [r.variant for r in records] == ["c-1", "c-2", "c-3"] and problems == []


def test_extending_a_committed_file_starts_every_record_on_a_line_of_its_own() -> None:
    whole = jsonl_line(deferral(1))
    # only the newline was lost: the record stays, the next one starts on a new line
    ext = extend_jsonl(whole.rstrip("\n"), [deferral(2)], source="lineage/d.jsonl")
    assert ext.text == whole + jsonl_line(deferral(2)) and ext.torn == ""
    assert ext.warning == "lineage/d.jsonl:1: the last line had lost its newline; it was kept"
    # a partial record is taken out whole, for the caller to keep beside the file
    ext = extend_jsonl(whole + '{"ts": "t", "vari', [deferral(2)], source="lineage/d.jsonl")
    assert ext.text == whole + jsonl_line(deferral(2)) and ext.torn == '{"ts": "t", "vari'
    assert ext.warning is not None and ext.warning.startswith("lineage/d.jsonl:2: a torn")
    assert parse_jsonl(ext.text, Deferral, source="x")[1] == []
    clean = extend_jsonl(whole, [deferral(2)], source="lineage/d.jsonl")
    assert clean == (whole + jsonl_line(deferral(2)), "", None)


def test_a_pending_file_whose_last_record_lost_only_its_newline_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(jsonl_line(deferral(1)) + jsonl_line(deferral(2)).rstrip("\n"))
    append_jsonl(path, [deferral(3)])
    records, problems = read_jsonl(path, Deferral)
    assert [r.variant for r in records] == ["c-1", "c-2", "c-3"] and problems == []
    assert not [p for p in tmp_path.iterdir() if ".torn-" in p.name]

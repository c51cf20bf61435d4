"""Lua scripts: loaded by SHA at start, reloaded by themselves after SCRIPT FLUSH."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from livecart.commerce.sales.keys import sale_keys
from livecart.runtime import Runtime
from livecart.store.scripts import Scripts, find_script_files, script_source
from tests.commerce.conftest import SHOW, seed_show


def test_every_script_has_a_header_naming_its_keys_args_and_reply() -> None:
    files = find_script_files()
    assert "create_show" in files and "reserve" in files
    for path in files.values():
        text = path.read_text()
        assert text.startswith(f"-- {path.name}:"), path
        for word in ("KEYS", "ARGV[1]", "Returns"):
            assert word in text, (path, word)


def test_fragments_are_included_not_registered_and_a_missing_one_is_refused(
    tmp_path: Path,
) -> None:
    assert not any(name.startswith("_") for name in find_script_files())
    reserve = script_source(find_script_files()["reserve"])
    assert "local function decide_line" in reserve and "--#include" not in reserve
    # A fragment is found by name in any folder: orders/ scripts use sales/_sale.lua.
    cancel = script_source(find_script_files()["cancel_order"])
    assert "local function decide_line" in cancel and "--#include" not in cancel
    (tmp_path / "uses.lua").write_text("--#include _missing.lua\nreturn 1\n")
    with pytest.raises(RuntimeError, match=r"cannot include '_missing\.lua'"):
        script_source(tmp_path / "uses.lua")


async def test_scripts_run_again_after_script_flush(runtime: Runtime) -> None:
    await seed_show(runtime, start=False)
    script = runtime.scripts["start_show"]
    assert (await script(keys=sale_keys(SHOW), args=[1000]))[0] == "started"
    await runtime.redis.script_flush()
    assert (await runtime.redis.script_exists(script.sha)) == [False]
    assert await script(keys=sale_keys(SHOW), args=[1000]) == ["unchanged"]
    assert (await runtime.redis.script_exists(script.sha)) == [True]


async def test_preload_loads_every_script_and_refuses_a_broken_one(
    redis: Redis, tmp_path: Path
) -> None:
    scripts = Scripts(redis)
    await scripts.preload()
    assert all(await redis.script_exists(*[s.sha for s in scripts.values()]))

    (tmp_path / "broken.lua").write_text("-- broken.lua: not Lua\nreturn {{{")
    broken = Scripts(redis, find_script_files(tmp_path))
    with pytest.raises(ResponseError, match=r"broken|Error compiling"):
        await broken.preload()


def test_two_scripts_with_one_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "same.lua").write_text("return 1")
    (tmp_path / "b" / "same.lua").write_text("return 2")
    with pytest.raises(RuntimeError, match="two Lua scripts named 'same'"):
        find_script_files(tmp_path)

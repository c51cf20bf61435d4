"""Lua scripts: loaded by SHA at start, reloaded by themselves after SCRIPT FLUSH."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from livecart.runtime import Runtime
from livecart.store.scripts import Scripts, find_script_files


def test_every_script_has_a_header_naming_its_keys_args_and_reply() -> None:
    files = find_script_files()
    assert "create_show" in files
    for path in files.values():
        text = path.read_text()
        assert text.startswith(f"-- {path.name}:"), path
        for word in ("KEYS[1]", "ARGV[1]", "Returns"):
            assert word in text, (path, word)


async def test_scripts_run_again_after_script_flush(runtime: Runtime) -> None:
    script = runtime.scripts["create_show"]
    reply = await script(
        keys=["lc:{s:t}:show", "lc:{s:t}:lineup", "lc:{s:t}:stock", "lc:{s:t}:events"],
        args=["t", "title", "c", "b", "", 100, "{}"],
    )
    assert reply[0] == "created"
    await runtime.redis.script_flush()
    assert (await runtime.redis.script_exists(script.sha)) == [False]
    again = await script(
        keys=["lc:{s:u}:show", "lc:{s:u}:lineup", "lc:{s:u}:stock", "lc:{s:u}:events"],
        args=["u", "title", "c", "b", "", 100, "{}"],
    )
    assert again[0] == "created"
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

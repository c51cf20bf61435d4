"""``livecart import-catalog`` as a user runs it: a real process against a configured
Redis, a data directory of its own, or the data directory of a running node."""

from __future__ import annotations

import signal
from pathlib import Path

import orjson
from redis.asyncio import Redis

from livecart.commerce.catalog.products import Brand, get_product, save_brand
from livecart.config import PLACEHOLDER_ADMIN_KEY, Settings
from livecart.store.embedded import EmbeddedRedis, bundled_server_binary
from tests.helpers import LivecartProcess, get, processes_serving

HEADER = "sku,brand,title,price,currency,description,image_url,commission_bps,per_user_limit\n"
MIXED_CSV = (
    HEADER
    + 'ok-1,b1,"Socks, 3 pairs",1900,EUR,,,600,10\n'
    + "bad-1,b1,No price,,EUR,,,,\n"
    + "ok-2,b1,Beanie,2400,EUR,,,,\n"
    + "bad-2,ghost,No brand,100,EUR,,,,\n"
)


def import_catalog(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    proc = LivecartProcess(["import-catalog", *args], cwd=cwd, env=env)
    code = proc.wait(timeout=60)
    return code, proc.stdout, proc.stderr


def url_env(settings: Settings) -> dict[str, str]:
    return {"LIVECART_REDIS_URL": settings.redis.url}


async def test_import_reports_each_rejected_row_and_imports_the_rest(
    tmp_path: Path, settings: Settings, redis: Redis
) -> None:
    await save_brand(redis, Brand("b1", "One"))
    (tmp_path / "catalog.csv").write_text(MIXED_CSV)
    code, out, err = import_catalog(tmp_path, "catalog.csv", env=url_env(settings))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "2 products imported from catalog.csv"
    assert lines[1] == "2 rows were rejected and not imported (every other row was):"
    assert lines[2] == "  row 3 (sku 'bad-1'): price: price is required [invalid]"
    assert lines[3] == "  row 5 (sku 'bad-2'): brand: brand 'ghost' does not exist [not_found]"
    assert "written to Redis at unix://" in out
    socks = await get_product(redis, "ok-1")
    assert socks is not None and socks.title == "Socks, 3 pairs" and socks.per_user_limit == 10
    assert await get_product(redis, "ok-2") is not None
    assert await get_product(redis, "bad-1") is None and await get_product(redis, "bad-2") is None


async def test_a_json_file_is_imported_with_its_rows_counted_from_one(
    tmp_path: Path, settings: Settings, redis: Redis
) -> None:
    await save_brand(redis, Brand("b1", "One"))
    items = [
        {"sku": "j1", "brand": "b1", "title": "J", "price": 5, "currency": "EUR"},
        {"sku": "j2", "brand": "b1", "title": "J", "price": 5.5, "currency": "EUR"},
    ]
    (tmp_path / "catalog.data").write_bytes(orjson.dumps(items))
    code, out, err = import_catalog(
        tmp_path, "catalog.data", "--format", "json", env=url_env(settings)
    )
    assert code == 0, err
    assert out.startswith("1 product imported from catalog.data\n")
    assert "  row 2 (sku 'j2'): price: price must be a whole number [invalid]" in out
    assert await get_product(redis, "j1") is not None


async def test_a_csv_with_variants_imports_each_product_whole_and_names_the_bad_row(
    tmp_path: Path, settings: Settings, redis: Redis
) -> None:
    await save_brand(redis, Brand("b1", "One"))
    (tmp_path / "tees.csv").write_text(
        "sku,brand,title,price,currency,option1_name,option1_value,variant_sku,variant_price\n"
        "tee,b1,Logo tee,2500,EUR,Size,S,tee-s,\n"
        "tee,,,,,,M,tee-m,2700\n"
        "hat,b1,Bucket hat,900,EUR,Size,S,hat-s,\n"
        "hat,,,,,,S,hat-m,\n"
    )
    code, out, err = import_catalog(tmp_path, "tees.csv", env=url_env(settings))
    assert code == 0, err
    assert out.splitlines()[:4] == [
        "1 product imported from tees.csv",
        "2 rows were rejected and not imported (every other row was):",
        "  row 4 (sku 'hat'): row: not imported: product 'hat' is imported whole or not at "
        "all, and its row 5 was rejected (option1_value) [invalid]",
        "  row 5 (sku 'hat'): option1_value: another variant is already S [invalid]",
    ]
    tee = await get_product(redis, "tee")
    assert tee is not None and [(v.sku, v.values, v.price) for v in tee.variants] == [
        ("tee-s", ("S",), None),
        ("tee-m", ("M",), 2700),
    ]
    assert await get_product(redis, "hat") is None


async def test_with_no_node_running_it_runs_its_own_redis_and_leaves_the_data_on_disk(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    server = EmbeddedRedis(data_dir, binary=bundled_server_binary())
    await server.start()
    client = Redis.from_url(server.url, decode_responses=True)
    await save_brand(client, Brand("b1", "One"))
    await client.aclose()
    await server.stop()

    (tmp_path / "catalog.csv").write_text(MIXED_CSV)
    code, out, err = import_catalog(tmp_path, "catalog.csv")
    assert code == 0, err
    assert out.startswith("2 products imported") and "run for this command" in out
    assert processes_serving(data_dir) == []

    await server.start()
    client = Redis.from_url(server.url, decode_responses=True)
    try:
        assert await get_product(client, "ok-1") is not None
        assert await get_product(client, "ok-2") is not None
    finally:
        await client.aclose()
        await server.stop()


def test_with_a_node_running_on_the_data_directory_it_imports_through_that_node(
    tmp_path: Path,
) -> None:
    node = LivecartProcess(["demo", "--port", "0"], cwd=tmp_path)
    try:
        url = node.wait_for_url()
        servers = processes_serving(tmp_path / "data")
        (tmp_path / "more.csv").write_text(
            HEADER + "nw-gloves,northwind,Trail gloves,3900,EUR,,,800,3\n"
        )
        code, out, err = import_catalog(tmp_path, "more.csv")
        assert code == 0, err
        assert out.startswith("1 product imported") and f"(pid {node.proc.pid})" in out
        assert processes_serving(tmp_path / "data") == servers
        gloves = get(f"{url}/api/products/nw-gloves", headers={"X-API-Key": PLACEHOLDER_ADMIN_KEY})
        assert gloves.status_code == 200 and gloves.json()["price"] == 3900
        node.signal(signal.SIGINT)
        assert node.wait() == 0, node.stderr
    finally:
        node.kill()


def test_a_file_that_cannot_be_read_or_parsed_exits_2_and_says_why(
    tmp_path: Path, settings: Settings
) -> None:
    env = url_env(settings)
    (tmp_path / "broken.csv").write_text(HEADER + 'a,b1,"unclosed,1,EUR,,,,\n')
    (tmp_path / "latin.csv").write_bytes((HEADER + "a,b1,Cr\xe8me,1,EUR,,,,\n").encode("latin-1"))
    (tmp_path / "object.json").write_text('{"sku": "a"}')
    (tmp_path / "catalog.xlsx").write_text("")
    cases = {
        "missing.csv": "cannot read missing.csv: No such file or directory",
        "broken.csv": "malformed at line",
        "latin.csv": "not UTF-8",
        "object.json": "array of product objects",
        "catalog.xlsx": "--format",
    }
    for name, says in cases.items():
        code, out, err = import_catalog(tmp_path, name, env=env)
        assert code == 2, (name, out, err)
        assert says in err, (name, err)
        assert out == ""


def test_an_unreachable_redis_exits_2_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "catalog.csv").write_text(MIXED_CSV)
    env = {
        "LIVECART_REDIS_URL": f"unix://{tmp_path}/nobody.sock",
        "LIVECART_REDIS_STARTUP_TIMEOUT_S": "0.5",
    }
    code, out, err = import_catalog(tmp_path, "catalog.csv", env=env)
    assert code == 2 and out == ""
    assert "did not answer" in err

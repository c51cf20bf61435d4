"""Bulk import: files read as a person wrote them, every good row imported, every bad
row reported with its number and field, and unreadable files refused whole."""

from __future__ import annotations

import codecs
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from livecart.commerce.catalog.imports import (
    IMPORT_BATCH_ROWS,
    MAX_IMPORT_BYTES,
    MAX_IMPORT_ROWS,
    ImportFormat,
    ImportReport,
    Rejected,
    SourceRow,
    check_rows,
    format_for_content_type,
    format_for_path,
    import_file,
    read_rows,
    render_report,
)
from livecart.commerce.catalog.products import (
    Brand,
    Product,
    create_brand,
    create_product,
    get_product,
)
from livecart.errors import InvalidInput, UnsupportedMediaType
from livecart.store import keys

CSV = ImportFormat.CSV
JSON = ImportFormat.JSON
HEADER = "sku,brand,title,price,currency,description,image_url,commission_bps,per_user_limit\n"


def rows_data(data: bytes | str, fmt: ImportFormat) -> list[tuple[int, Any]]:
    raw = data.encode() if isinstance(data, str) else data
    return [(r.number, r.data) for r in read_rows(raw, fmt)]


def refused(data: bytes | str, fmt: ImportFormat) -> str:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(InvalidInput) as refusal:
        read_rows(raw, fmt)
    assert refusal.value.field == "body"
    return refusal.value.message


def good(sku: str, brand: str = "b1", **extra: Any) -> dict[str, Any]:
    return {
        "sku": sku,
        "brand": brand,
        "title": f"Title {sku}",
        "price": 1000,
        "currency": "EUR",
    } | extra


# --- reading CSV ----------------------------------------------------------------------


def test_csv_rows_are_numbered_as_a_spreadsheet_shows_them() -> None:
    text = (
        HEADER
        + "a,b1,Plain,100,EUR,,,,\n"
        + "\n"  # a blank row: counted, skipped
        + 'b,b1,"Socks, 3 pairs",200,EUR,"Line one\nline two",,,\n'  # one row over two lines
        + 'c,b1,"Say ""hi""",300,EUR,,,,\n'
    )
    rows = rows_data(text, CSV)
    assert [(n, d["sku"]) for n, d in rows] == [(2, "a"), (4, "b"), (5, "c")]
    by_sku = {d["sku"]: d for _, d in rows}
    assert by_sku["b"]["title"] == "Socks, 3 pairs"
    assert by_sku["b"]["description"] == "Line one\nline two"
    assert by_sku["c"]["title"] == 'Say "hi"'


def test_csv_numbers_are_parsed_and_empty_optional_fields_take_defaults() -> None:
    text = HEADER + "a,b1,T, 1299 ,EUR,,,+800,\n"
    [(_, data)] = rows_data(text, CSV)
    assert data == {
        "sku": "a",
        "brand": "b1",
        "title": "T",
        "price": 1299,
        "currency": "EUR",
        "commission_bps": 800,
    }
    p = Product.from_dict(data)
    assert (p.description, p.image_url, p.per_user_limit) == ("", "", 0)


def test_csv_header_may_come_in_any_order_and_case_with_only_the_required_columns() -> None:
    [(_, data)] = rows_data("Price, SKU ,currency,title,brand\r\n5,a,EUR,T,b1\r\n", CSV)
    assert Product.from_dict(data).price == 5


@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8])
def test_csv_is_read_as_utf8_with_or_without_a_bom(bom: bytes) -> None:
    text = HEADER + "café-1,b1,Crème brûlée set,1500,EUR,,,,\n"
    [(_, data)] = rows_data(bom + text.encode(), CSV)
    assert data["sku"] == "café-1" and data["title"] == "Crème brûlée set"


def test_a_csv_file_that_is_not_utf8_is_refused_naming_the_line() -> None:
    message = refused((HEADER + "a,b1,Cr\xe8me,100,EUR,,,,\n").encode("latin-1"), CSV)
    assert "not UTF-8" in message and "line 2" in message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        (HEADER + 'a,b1,"unclosed,100,EUR,,,,\n', "malformed"),
        (HEADER + 'a,b1,"x"y,100,EUR,,,,\n', "malformed"),
        ("sku,brand,title,price,currency,colour\n", "'colour'"),
        ("sku,brand,title,price\n", "no currency column"),
        ("sku,brand,title,price,currency,sku\n", "twice"),
    ],
)
def test_a_malformed_csv_file_is_refused_whole(text: str, says: str) -> None:
    assert says in refused(text, CSV)


def test_a_csv_row_with_the_wrong_number_of_cells_is_rejected_alone() -> None:
    text = HEADER + "a,b1,Socks, 3 pairs,200,EUR,,,,\n" + "b,b1,Fine,100,EUR,,,,\n"
    checked = check_rows(read_rows(text.encode(), CSV))
    assert [p.sku for _, p in checked.valid] == ["b"]
    [rejection] = checked.rejected
    assert (rejection.row, rejection.sku, rejection.field) == (2, "a", "row")
    assert "10 fields" in rejection.message and "double quotes" in rejection.message


def test_a_control_character_in_a_csv_cell_rejects_that_row_by_field() -> None:
    text = HEADER + "a,b1,T\x00,100,EUR,,,,\n" + "b,b1,T,100,EUR,x\x1b,,,\n"
    rejected = check_rows(read_rows(text.encode(), CSV)).rejected
    assert [(r.row, r.field) for r in rejected] == [(2, "title"), (3, "description")]


def test_csv_text_that_is_not_a_whole_number_is_refused_by_the_validator() -> None:
    text = HEADER + "a,b1,T,12.99,EUR,,,,\n" + "b,b1,T,1e3,EUR,,,,\n" + "c,b1,T,-5,EUR,,,,\n"
    text += "d,b1,T," + "9" * 500 + ",EUR,,,,\n" + "e,b1,T,100,EUR,,,ten,\n"
    rejected = check_rows(read_rows(text.encode(), CSV)).rejected
    assert [(r.row, r.field) for r in rejected] == [
        (2, "price"),
        (3, "price"),
        (4, "price"),
        (5, "price"),
        (6, "commission_bps"),
    ]
    assert "whole number" in rejected[0].message and "between" in rejected[2].message
    assert "between" in rejected[3].message


def test_a_file_over_the_row_limit_is_refused() -> None:
    text = HEADER + "a,b1,T,1,EUR,,,,\n" * (MAX_IMPORT_ROWS + 1)
    assert f"more than {MAX_IMPORT_ROWS}" in refused(text, CSV)
    items = orjson.dumps([good("a")] * (MAX_IMPORT_ROWS + 1))
    assert f"at most {MAX_IMPORT_ROWS}" in refused(items, JSON)


def test_a_file_over_the_size_limit_is_refused() -> None:
    assert "larger than" in refused(b" " * (MAX_IMPORT_BYTES + 1), JSON)


# --- reading JSON ---------------------------------------------------------------------


def test_json_items_are_numbered_from_one() -> None:
    rows = rows_data(orjson.dumps([good("a"), good("b")]), JSON)
    assert [(n, d["sku"]) for n, d in rows] == [(1, "a"), (2, "b")]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "not valid JSON"),
        (b"[{", "not valid JSON"),
        (b'{"sku": "a"}', "array"),
        (b"\xff\xfe[]", "not UTF-8"),
    ],
)
def test_an_unreadable_json_file_is_refused_whole(data: bytes, says: str) -> None:
    assert says in refused(data, JSON)


def test_a_json_file_with_a_bom_is_read() -> None:
    assert rows_data(codecs.BOM_UTF8 + b"[]", JSON) == []


# --- checking rows --------------------------------------------------------------------


def test_a_later_row_with_a_sku_already_in_the_file_is_rejected_naming_the_earlier_row() -> None:
    rows = [
        SourceRow(1, good("a")),
        SourceRow(2, good("b", price=-1)),
        SourceRow(3, good("a", title="Again")),
        SourceRow(4, good("b")),
        SourceRow(5, "not an object"),
        SourceRow(6, good("a{1}")),
    ]
    checked = check_rows(rows)
    assert [(n, p.sku) for n, p in checked.valid] == [(1, "a")]
    assert [(r.row, r.sku, r.error, r.field) for r in checked.rejected] == [
        (2, "b", "invalid", "price"),
        (3, "a", "conflict", "sku"),
        (4, "b", "conflict", "sku"),
        (5, None, "invalid", "row"),
        (6, "a{1}", "invalid", "sku"),
    ]
    assert "row 1" in checked.rejected[1].message and "row 2" in checked.rejected[2].message


# --- formats --------------------------------------------------------------------------


def test_the_format_comes_from_the_extension_or_the_content_type() -> None:
    assert format_for_path("catalog.CSV") is CSV and format_for_path("/x/y.json") is JSON
    with pytest.raises(InvalidInput, match="--format"):
        format_for_path("catalog.xlsx")
    assert format_for_content_type("text/csv; charset=UTF-8") is CSV
    assert format_for_content_type("application/json") is JSON
    for bad in (None, "", "text/plain", "text/csv; charset=latin-1"):
        with pytest.raises(UnsupportedMediaType) as refusal:
            format_for_content_type(bad)
        assert refusal.value.field == "content-type"


# --- importing ------------------------------------------------------------------------


async def test_import_reports_each_rejected_row_and_imports_the_rest(redis: Redis) -> None:
    await create_brand(redis, Brand("b1", "One"))
    await create_brand(redis, Brand("b2", "Two"))
    await create_product(redis, Product.from_dict(good("moves", "b1")))
    text = (
        HEADER
        + "new,b1,New thing,1000,EUR,,,500,2\n"
        + "moves,b2,Moved,2000,EUR,,,,\n"
        + "lost,nope,No brand,100,EUR,,,,\n"
        + "bad-price,b1,Bad,abc,EUR,,,,\n"
        + "new,b1,Twice,100,EUR,,,,\n"
        + "a:b,b1,Bad id,100,EUR,,,,\n"
    )
    report = await import_file(redis, text.encode(), CSV)
    assert report.imported == 2
    assert [(r.row, r.sku, r.error, r.field) for r in report.rejected] == [
        (4, "lost", "not_found", "brand"),
        (5, "bad-price", "invalid", "price"),
        (6, "new", "conflict", "sku"),
        (7, "a:b", "invalid", "sku"),
    ]
    new = await get_product(redis, "new")
    assert new is not None and (new.commission_bps, new.per_user_limit) == (500, 2)
    assert await redis.zrange(keys.brand_products("b1"), 0, -1) == ["new"]
    assert await redis.zrange(keys.brand_products("b2"), 0, -1) == ["moves"]
    for sku in ("lost", "bad-price", "a-b"):
        assert await get_product(redis, sku) is None
    assert not await redis.exists(keys.brand_products("nope"))


async def test_a_json_import_reports_rows_from_one(redis: Redis) -> None:
    await create_brand(redis, Brand("b1", "One"))
    items = [good("a"), {"sku": "b", "brand": "b1"}, good("c", price="10"), good("d")]
    report = await import_file(redis, orjson.dumps(items), JSON)
    assert report.imported == 2
    assert [(r.row, r.field) for r in report.rejected] == [(2, "title"), (3, "price")]
    assert report.to_dict()["rejected"][0] == {
        "row": 2,
        "sku": "b",
        "error": "invalid",
        "field": "title",
        "message": "title is required",
    }


async def test_an_import_larger_than_a_batch_imports_every_row(redis: Redis) -> None:
    await create_brand(redis, Brand("b1", "One"))
    count = IMPORT_BATCH_ROWS * 2 + 7
    items = [good(f"p{i:05d}") for i in range(count)]
    items[IMPORT_BATCH_ROWS + 3]["brand"] = "nope"
    report = await import_file(redis, orjson.dumps(items), JSON)
    assert report.imported == count - 1
    assert [r.row for r in report.rejected] == [IMPORT_BATCH_ROWS + 4]
    assert await redis.zcard(keys.brand_products("b1")) == count - 1


async def test_importing_the_same_file_twice_changes_nothing_the_second_time(redis: Redis) -> None:
    await create_brand(redis, Brand("b1", "One"))
    data = orjson.dumps([good("a"), good("b")])
    await import_file(redis, data, JSON)
    before = {k: await redis.type(k) for k in await redis.keys("*")}
    again = await import_file(redis, data, JSON)
    assert again.imported == 2 and again.rejected == []
    assert {k: await redis.type(k) for k in await redis.keys("*")} == before


async def test_an_unreadable_file_writes_nothing(redis: Redis) -> None:
    await create_brand(redis, Brand("b1", "One"))
    before = sorted(await redis.keys("*"))
    with pytest.raises(InvalidInput):
        await import_file(redis, (HEADER + 'a,b1,"open,1,EUR,,,,\n').encode(), CSV)
    assert sorted(await redis.keys("*")) == before


def test_the_printed_report_says_rows_were_rejected_and_the_rest_imported() -> None:
    report = ImportReport(
        3,
        [Rejected(4, "x", "not_found", "brand", "brand 'nope' does not exist")],
    )
    text = render_report(report, "cat.csv")
    assert text.splitlines() == [
        "3 products imported from cat.csv",
        "1 row was rejected and not imported (every other row was):",
        "  row 4 (sku 'x'): brand: brand 'nope' does not exist [not_found]",
    ]
    assert "no rows were rejected" in render_report(ImportReport(1, []), "a.json")


# --- products with variants -----------------------------------------------------------

VARIANT_HEADER = (
    "sku,brand,title,price,currency,option1_name,option1_value,option2_name,option2_value,"
    "variant_sku,variant_price,variant_image_url\n"
)
TEE_ROWS = (
    "tee,b1,Logo tee,2500,EUR,Size,S,Colour,Red,tee-s-red,,\n"
    "tee,,,,,,M,,Red,tee-m-red,2700,\n"
    "\n"  # a blank line inside a product's rows: counted, skipped
    "tee,b1,Logo tee,2500,EUR,Size,L,Colour,Red,tee-l-red,,https://img.example.com/l.jpg\n"
)


def variant_file(*rows: str) -> bytes:
    return (VARIANT_HEADER + "".join(rows)).encode()


def blamed(rejected: list[Rejected]) -> list[tuple[int, str | None, str, str]]:
    return [(r.row, r.sku, r.error, r.field) for r in rejected]


def test_csv_rows_with_one_sku_form_one_product_card_with_a_variant_per_row() -> None:
    rows = read_rows(variant_file(TEE_ROWS, "cap,b1,Cap,1500,EUR,,,,,,,\n"), CSV)
    assert [(r.number, r.variant_rows) for r in rows] == [(2, (2, 3, 5)), (6, ())]
    assert rows[0].data == {
        "sku": "tee",
        "brand": "b1",
        "title": "Logo tee",
        "price": 2500,
        "currency": "EUR",
        "options": ["Size", "Colour"],
        "variants": [
            {"values": ["S", "Red"], "sku": "tee-s-red"},
            {"values": ["M", "Red"], "sku": "tee-m-red", "price": 2700},
            {
                "values": ["L", "Red"],
                "sku": "tee-l-red",
                "image_url": "https://img.example.com/l.jpg",
            },
        ],
    }
    # A row without option or variant cells is a plain product, read exactly as before.
    assert rows[1].data == {
        "sku": "cap",
        "brand": "b1",
        "title": "Cap",
        "price": 1500,
        "currency": "EUR",
    }
    tee = Product.from_dict(rows[0].data)
    assert [(s.sku, s.price) for s in tee.sellable()] == [
        ("tee-s-red", 2500),
        ("tee-m-red", 2700),
        ("tee-l-red", 2500),
    ]


def test_a_one_option_product_needs_only_the_first_option_columns() -> None:
    text = (
        "sku,brand,title,price,currency,option1_name,option1_value,variant_sku\n"
        "sock,b1,Sock,900,EUR,Size,S,sock-s\n"
        "sock,b1,Sock,900,EUR,Size,M,sock-m\n"
    )
    [row] = read_rows(text.encode(), CSV)
    product = Product.from_dict(row.data)
    assert product.options == ("Size",)
    assert [(v.sku, v.values) for v in product.variants] == [("sock-s", ("S",)), ("sock-m", ("M",))]


@pytest.mark.parametrize(
    ("rows", "row", "field", "says"),
    [
        # A later row changes a product field: refused on that row, naming the first.
        (
            "tee,b1,Logo tee,2500,EUR,Size,S,Colour,Red,tee-s,,\n"
            "tee,b1,Logo tee,2600,EUR,Size,M,Colour,Red,tee-m,,\n",
            3,
            "price",
            "price is 2600 here but 2500 in row 2",
        ),
        (
            "tee,b1,Logo tee,2500,EUR,Size,S,Colour,Red,tee-s,,\n"
            "tee,,,,,Size,M,Color,Red,tee-m,,\n",
            3,
            "option2_name",
            "option2_name is 'Color' here but 'Colour' in row 2",
        ),
        # A value for an option the product does not name.
        (
            "tee,b1,Logo tee,2500,EUR,Size,S,,,tee-s,,\ntee,,,,,,M,,Red,tee-m,,\n",
            3,
            "option2_value",
            "option2_value is 'Red' but the product has no option2_name",
        ),
        # Option names with a gap.
        (
            "tee,b1,Logo tee,2500,EUR,,S,Colour,Red,tee-s,,\ntee,,,,,,M,,Red,tee-m,,\n",
            2,
            "option1_name",
            "option1_name is empty but option2_name is not",
        ),
        # A variant row without its sku.
        (
            "tee,b1,Logo tee,2500,EUR,Size,S,,,tee-s,,\ntee,,,,,,M,,,,,\n",
            3,
            "variant_sku",
            "variant_sku is required",
        ),
        # A row with a cell too many, inside a product's rows.
        (
            "tee,b1,Logo tee,2500,EUR,Size,S,,,tee-s,,\ntee,,,,,,M,,,tee-m,,,\n",
            3,
            "row",
            "13 fields and the header 12",
        ),
    ],
)
def test_rows_of_one_product_that_disagree_reject_it_whole_on_the_row_at_fault(
    rows: str, row: int, field: str, says: str
) -> None:
    checked = check_rows(read_rows(variant_file(rows, "cap,b1,Cap,1500,EUR,,,,,,,\n"), CSV))
    assert [p.sku for _, p in checked.valid] == ["cap"]
    [fault] = [r for r in checked.rejected if r.row == row]
    assert (fault.sku, fault.error, fault.field) == ("tee", "invalid", field)
    assert says in fault.message
    # Every other row of the product is reported too: none of it was imported.
    others = [r for r in checked.rejected if r.row != row]
    assert others and {(r.sku, r.field) for r in others} == {("tee", "row")}
    assert all(f"its row {row} was rejected ({field})" in r.message for r in others)
    assert sorted(r.row for r in checked.rejected) == list(range(2, 2 + rows.count("\n")))


@pytest.mark.parametrize(
    ("second_row", "field", "says"),
    [
        ("tee,,,,,,M,,Red,tee-m,27.00,\n", "variant_price", "variant_price must be a whole number"),
        ("tee,,,,,,M,,,tee-m,,\n", "option2_value", "option2_value must not be empty"),
        ("tee,,,,,,S,,Red,tee-m,,\n", "option1_value", "another variant is already S / Red"),
        ("tee,,,,,,M,,Red,tee-m,,ftp://x\n", "variant_image_url", "variant_image_url must be"),
        ("tee,,,,,,M,,Red,tee,,\n", "variant_sku", "must differ from its product's"),
        ("tee,,,,,,M,,Red,tee-s,,\n", "variant_sku", "names two variants"),
        ("tee,,,,,,M,,Red,tee m,,\n", "variant_sku", "variant_sku 'tee m' is not a valid id"),
    ],
)
def test_a_bad_variant_is_rejected_by_its_row_and_column(
    second_row: str, field: str, says: str
) -> None:
    rows = "tee,b1,Logo tee,2500,EUR,Size,S,Colour,Red,tee-s,,\n" + second_row
    checked = check_rows(read_rows(variant_file(rows), CSV))
    assert checked.valid == []
    assert blamed(checked.rejected) == [(2, "tee", "invalid", "row"), (3, "tee", "invalid", field)]
    assert says in checked.rejected[1].message


def test_a_bad_option_name_is_rejected_on_the_first_row() -> None:
    rows = "tee,b1,Logo tee,2500,EUR," + "S" * 41 + ",S,,,tee-s,,\n" + "tee,,,,,,M,,,tee-m,,\n"
    checked = check_rows(read_rows(variant_file(rows), CSV))
    assert blamed(checked.rejected) == [
        (2, "tee", "invalid", "option1_name"),
        (3, "tee", "invalid", "row"),
    ]
    assert checked.rejected[0].message == "option1_name is longer than 40 characters"


def test_a_variant_sku_already_in_the_file_is_rejected_naming_the_earlier_row() -> None:
    rows = (
        TEE_ROWS
        + "hat,b1,Hat,900,EUR,Size,S,,,hat-s,,\n"
        + "hat,b1,Hat,900,EUR,Size,M,,,tee-m-red,,\n"  # another product's variant
        + "tee-s-red,b1,Clash,100,EUR,,,,,,,\n"  # a product named like a variant
        + "tee,b1,Logo tee,2500,EUR,Size,XL,Colour,Red,tee-xl-red,,\n"  # not next to the rest
    )
    checked = check_rows(read_rows(variant_file(rows), CSV))
    assert [p.sku for _, p in checked.valid] == ["tee"]
    assert blamed(checked.rejected) == [
        (6, "hat", "conflict", "row"),
        (7, "hat", "conflict", "variant_sku"),
        (8, "tee-s-red", "conflict", "sku"),
        (9, "tee", "conflict", "sku"),
    ]
    assert checked.rejected[1].message == "sku 'tee-m-red' is already in row 3 of this file"
    assert checked.rejected[2].message == "sku 'tee-s-red' is already in row 2 of this file"


def test_json_variants_are_checked_by_the_product_validator_naming_their_path() -> None:
    tee = good(
        "tee",
        options=["Size"],
        variants=[{"sku": "tee-s", "values": ["S"]}, {"sku": "tee-m", "values": ["M"], "price": 0}],
    )
    clash = good("hat", options=["Size"], variants=[{"sku": "tee-s", "values": ["S"]}])
    plain_with_variants = good("cap", variants=[{"sku": "cap-s", "values": ["S"]}])
    fine = good("sock", options=["Size"], variants=[{"sku": "sock-s", "values": ["S"]}])
    rows = [SourceRow(n, d) for n, d in enumerate([tee, clash, plain_with_variants, fine], 1)]
    checked = check_rows(rows)
    assert [(n, p.sku) for n, p in checked.valid] == [(4, "sock")]
    assert blamed(checked.rejected) == [
        (1, "tee", "invalid", "variants[1].price"),
        (2, "hat", "conflict", "variants[0].sku"),
        (3, "cap", "invalid", "variants"),
    ]
    assert "row 1" in checked.rejected[1].message


async def test_a_csv_import_with_variants_imports_each_good_product_whole(redis: Redis) -> None:
    await create_brand(redis, Brand("b1", "One"))
    rows = (
        TEE_ROWS
        + "bad,b1,Bad tee,2500,EUR,Size,S,,,bad-s,,\n"
        + "bad,,,,,,M,,,bad-m,-5,\n"
        + "bad,,,,,,L,,,bad-l,,\n"
        + "cap,b1,Cap,1500,EUR,,,,,,,\n"
    )
    report = await import_file(redis, variant_file(rows), CSV)
    assert report.imported == 2
    assert blamed(report.rejected) == [
        (6, "bad", "invalid", "row"),
        (7, "bad", "invalid", "variant_price"),
        (8, "bad", "invalid", "row"),
    ]
    assert report.rejected[1].message == "variant_price must be between 1 and 100000000000"
    tee = await get_product(redis, "tee")
    assert tee is not None and tee.options == ("Size", "Colour")
    assert [(v.sku, v.values, v.price) for v in tee.variants] == [
        ("tee-s-red", ("S", "Red"), None),
        ("tee-m-red", ("M", "Red"), 2700),
        ("tee-l-red", ("L", "Red"), None),
    ]
    assert await get_product(redis, "cap") is not None
    # Nothing of the rejected product was written: no card, no variant SKU claimed.
    assert await get_product(redis, "bad") is None
    for sku in ("bad-s", "bad-m", "bad-l"):
        assert not await redis.exists(keys.variant_owner(sku))
    assert await redis.get(keys.variant_owner("tee-m-red")) == "tee"
    assert await redis.zrange(keys.brand_products("b1"), 0, -1) == ["cap", "tee"]


async def test_a_variant_sku_another_product_has_in_the_catalog_rejects_the_product(
    redis: Redis,
) -> None:
    await create_brand(redis, Brand("b1", "One"))
    await create_product(redis, Product.from_dict(good("tee-m-red")))
    await create_product(
        redis,
        Product.from_dict(
            good("hat", options=["Size"], variants=[{"sku": "tee-l-red", "values": ["L"]}])
        ),
    )
    report = await import_file(redis, variant_file(TEE_ROWS), CSV)
    assert report.imported == 0
    assert blamed(report.rejected) == [
        (2, "tee", "conflict", "row"),
        (3, "tee", "conflict", "variant_sku"),
        (5, "tee", "conflict", "row"),
    ]
    assert report.rejected[1].message == "sku 'tee-m-red' is already a product's sku"
    assert await get_product(redis, "tee") is None
    assert not await redis.exists(keys.variant_owner("tee-s-red"))


async def test_a_product_with_variants_of_an_unknown_brand_reports_each_of_its_rows(
    redis: Redis,
) -> None:
    report = await import_file(redis, variant_file(TEE_ROWS), CSV)
    assert report.imported == 0
    assert blamed(report.rejected) == [
        (2, "tee", "not_found", "brand"),
        (3, "tee", "not_found", "row"),
        (5, "tee", "not_found", "row"),
    ]
    text = render_report(report, "tees.csv")
    assert "3 rows were rejected" in text
    assert "  row 3 (sku 'tee'): row: not imported: product 'tee' is imported whole" in text


async def test_a_json_import_with_variants_stores_them_and_refuses_bad_ones_by_path(
    redis: Redis,
) -> None:
    await create_brand(redis, Brand("b1", "One"))
    items = [
        good("tee", options=["Size"], variants=[{"sku": "tee-s", "values": ["S"], "price": 2700}]),
        good("hat", options=["Size"], variants=[{"sku": "hat-s", "values": ["S", "Red"]}]),
    ]
    report = await import_file(redis, orjson.dumps(items), JSON)
    assert report.imported == 1
    assert blamed(report.rejected) == [(2, "hat", "invalid", "variants[0].values")]
    tee = await get_product(redis, "tee")
    assert tee is not None and [(v.sku, v.price) for v in tee.variants] == [("tee-s", 2700)]
    assert await get_product(redis, "hat") is None


async def test_importing_a_file_with_variants_twice_changes_nothing_the_second_time(
    redis: Redis,
) -> None:
    await create_brand(redis, Brand("b1", "One"))
    data = variant_file(TEE_ROWS)
    assert (await import_file(redis, data, CSV)).imported == 1
    before = {
        k: await redis.get(k) for k in await redis.keys("*") if await redis.type(k) == "string"
    }
    again = await import_file(redis, data, CSV)
    assert again.imported == 1 and again.rejected == []
    after = {
        k: await redis.get(k) for k in await redis.keys("*") if await redis.type(k) == "string"
    }
    assert after == before

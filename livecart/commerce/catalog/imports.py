"""Bulk catalog import: a JSON array or a CSV file of products, imported row by row.

Every valid row is created or replaced; every other row is reported with its number,
the field at fault and why, and changes nothing. A file that cannot be read at all (too
large, too many rows, not UTF-8, not JSON, malformed CSV, a header naming no known
field) is refused whole, before anything is written.

Row numbers are what a person sees in the file: for CSV the header is row 1 and the
first product row 2, a blank line counts as a row (and is skipped), and a quoted field
spanning lines is still one row, as a spreadsheet shows it; for JSON the first item of
the array is row 1.

A product with variants is one JSON item (its ``options`` and ``variants`` lists as the
API takes them), but several CSV rows, one per variant, as shop exports write them:
rows that follow each other with the same ``sku`` form one product, its first row
carrying the product's fields and option names. Such a product is checked and imported
whole: a fault on any of its rows is reported on that row, and each of its other rows
is reported as not imported, so "every other row was imported" stays true.

The reading and checking is pure (bytes in, products and rejections out) and is the
same for the HTTP endpoint and ``livecart import-catalog``; only ``import_rows``
touches Redis.
"""

from __future__ import annotations

import _csv
import asyncio
import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePath
from typing import Any

import orjson
from redis.asyncio import Redis

from livecart import validation as v
from livecart.commerce.catalog.products import (
    MAX_OPTIONS,
    PRODUCT_FIELDS,
    REQUIRED_PRODUCT_FIELDS,
    Product,
    put_products_checked,
)
from livecart.errors import Conflict, InvalidInput, LivecartError, UnsupportedMediaType
from livecart.store import keys

MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_IMPORT_ROWS = 50_000
# Rows written per MULTI: large enough that a 50 000-row file costs 100 fsyncs under
# appendfsync always, small enough that no single EXEC holds Redis up for long.
IMPORT_BATCH_ROWS = 500
CSV_NUMBER_FIELDS = frozenset({"price", "commission_bps", "per_user_limit", "variant_price"})
# A number with more digits than this is out of every field's range; it is kept as a
# too-large value for the validator to refuse, rather than converted digit by digit.
MAX_NUMBER_DIGITS = 30
BOM = "\ufeff"
ROW_FIELD = "row"  # the `field` of a rejection that concerns the row as a whole

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")

# A product's options and variants are lists in the product card; a CSV file writes them
# as these columns instead, a variant per row (the layout of Shopify's product CSV).
NESTED_PRODUCT_FIELDS = ("options", "variants")
CSV_PRODUCT_COLUMNS = tuple(f for f in PRODUCT_FIELDS if f not in NESTED_PRODUCT_FIELDS)
# A column pair per option a product may have: option1_name, option1_value ... option3_value.
OPTION_NAME_COLUMNS = tuple(f"option{n}_name" for n in range(1, MAX_OPTIONS + 1))
OPTION_VALUE_COLUMNS = tuple(f"option{n}_value" for n in range(1, MAX_OPTIONS + 1))
# A variant's own fields and the CSV column each is written in.
VARIANT_COLUMN_OF = {
    "sku": "variant_sku",
    "price": "variant_price",
    "image_url": "variant_image_url",
}
VARIANT_CSV_COLUMNS = (
    *(c for pair in zip(OPTION_NAME_COLUMNS, OPTION_VALUE_COLUMNS, strict=True) for c in pair),
    *VARIANT_COLUMN_OF.values(),
)
CSV_COLUMNS = (*CSV_PRODUCT_COLUMNS, *VARIANT_CSV_COLUMNS)
# What a refusal of a grouped CSV product names, in the card's terms: variants[2].sku,
# variants[0].values[1], options[2], ...
_VARIANT_PATH = re.compile(r"variants\[(\d+)\](?:\.([a-z_]+)(?:\[(\d+)\])?)?(?:\..*)?")
_OPTION_PATH = re.compile(r"options(?:\[(\d+)\])?(?:\..*)?")


class ImportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


@dataclass(frozen=True)
class SourceRow:
    """One row as read from the file, before validation.

    ``problem`` is set when the row could not even be turned into fields (a CSV row
    with more or fewer cells than the header), or when the rows of a CSV product with
    variants disagree; ``problem_row`` is then the row at fault when it is not
    ``number``.

    A CSV product written over several rows is one SourceRow: ``number`` is its first
    row, ``data`` the product card built from all of them, and ``variant_rows`` the row
    of each variant in the card's order (the first is ``number``), so that a refusal
    naming ``variants[2].price`` is reported on the third variant's row, column
    ``variant_price``.
    """

    number: int
    data: object
    problem: InvalidInput | None = None
    problem_row: int | None = None
    variant_rows: tuple[int, ...] = ()


@dataclass(frozen=True)
class Rejected:
    row: int
    sku: str | None
    error: str
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "sku": self.sku,
            "error": self.error,
            "field": self.field,
            "message": self.message,
        }


@dataclass(frozen=True)
class ImportReport:
    imported: int
    rejected: list[Rejected]

    def to_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "rejected": [r.to_dict() for r in self.rejected]}


# --- reading a file -------------------------------------------------------------------


def format_for_path(path: str | PurePath) -> ImportFormat:
    """The format a file's extension names (``.json`` or ``.csv``, any case)."""
    suffix = PurePath(path).suffix.lower().lstrip(".")
    try:
        return ImportFormat(suffix)
    except ValueError:
        raise InvalidInput(
            f"cannot tell the format of {str(path)!r} from its extension; name it .json or "
            ".csv, or give --format json|csv",
            field="format",
        ) from None


def format_for_content_type(content_type: str | None) -> ImportFormat:
    """``application/json`` or ``text/csv`` (UTF-8; a charset parameter may say so)."""
    if not content_type:
        raise UnsupportedMediaType(
            "the Content-Type header is required: application/json or text/csv",
            field="content-type",
        )
    media_type, *params = (part.strip().lower() for part in content_type.split(";"))
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(
                f"charset {value.strip()!r} is not supported: send the file as UTF-8",
                field="content-type",
            )
    if media_type == "application/json":
        return ImportFormat.JSON
    if media_type == "text/csv":
        return ImportFormat.CSV
    raise UnsupportedMediaType(
        f"Content-Type {media_type!r} is not an import format: use application/json or text/csv",
        field="content-type",
    )


def read_rows(data: bytes, fmt: ImportFormat) -> list[SourceRow]:
    """The rows of a file, or InvalidInput (field ``body``) when it cannot be read."""
    if len(data) > MAX_IMPORT_BYTES:
        raise _unreadable(
            f"the file is larger than {MAX_IMPORT_BYTES} bytes, the most one import takes "
            "(split it into several files)"
        )
    text = _decode(data)
    return _json_rows(text) if fmt is ImportFormat.JSON else _csv_rows(text)


def _unreadable(message: str) -> InvalidInput:
    return InvalidInput(message, field="body")


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _unreadable(
            f"the file is not UTF-8: byte 0x{data[exc.start]:02x} on line {line} (byte offset "
            f"{exc.start}) is not valid UTF-8; save the file as UTF-8 and import it again"
        ) from None
    return text.removeprefix(BOM)


def _json_rows(text: str) -> list[SourceRow]:
    try:
        items = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise _unreadable(f"the file is not valid JSON: {exc}") from None
    if not isinstance(items, list):
        raise _unreadable("a JSON import must be an array of product objects")
    if len(items) > MAX_IMPORT_ROWS:
        raise _unreadable(
            f"the file has {len(items)} products; an import takes at most {MAX_IMPORT_ROWS} "
            "(split it into several files)"
        )
    return [SourceRow(number, item) for number, item in enumerate(items, start=1)]


def _csv_rows(text: str) -> list[SourceRow]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    # Blank lines are skipped wherever they are; they still count in the row numbers.
    records = (record for record in _records(reader) if any(c.strip() for c in record[1]))
    try:
        _, header_cells = next(records)
    except StopIteration:
        raise _unreadable(
            "the CSV file is empty: it needs a header row naming the fields"
        ) from None
    header = _csv_header(header_cells)
    rows: list[SourceRow] = []
    for number, cells in records:
        if len(rows) == MAX_IMPORT_ROWS:
            raise _unreadable(
                f"the file has more than {MAX_IMPORT_ROWS} product rows; split it into "
                "several files"
            )
        rows.append(_csv_row(number, header, cells))
    if any(name in VARIANT_CSV_COLUMNS for name in header):
        return group_variant_rows(rows)
    return rows


def _records(reader: _csv.Reader) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) per record; a malformed file is refused naming its line."""
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _unreadable(
                f"the CSV file is malformed at line {reader.line_num}: {exc}"
            ) from None
        number += 1
        yield number, cells


def _csv_header(cells: list[str]) -> list[str]:
    header = [cell.strip().lower() for cell in cells]
    for name in header:
        if name not in CSV_COLUMNS:
            raise _unreadable(
                f"the header names {name[:80]!r}, which is not a product field; the columns "
                f"are {', '.join(CSV_COLUMNS)} (sku, brand, title, price and currency required)"
            )
        if header.count(name) > 1:
            raise _unreadable(f"the header names {name!r} twice")
    missing = [name for name in REQUIRED_PRODUCT_FIELDS if name not in header]
    if missing:
        columns = "column" if len(missing) == 1 else "columns"
        raise _unreadable(f"the header has no {', '.join(missing)} {columns}")
    return header


def _csv_row(number: int, header: list[str], cells: list[str]) -> SourceRow:
    if len(cells) != len(header):
        fields = dict(zip(header, cells, strict=False))
        return SourceRow(
            number,
            fields,
            InvalidInput(
                f"the row has {len(cells)} fields and the header {len(header)} (a comma in a "
                'value needs the value in double quotes: "Socks, 3 pairs")',
                field=ROW_FIELD,
            ),
        )
    data: dict[str, object] = {}
    for name, cell in zip(header, cells, strict=True):
        value = cell.strip()
        if not value:
            continue  # empty: a required field is reported missing, an optional one defaults
        data[name] = _csv_number(value) if name in CSV_NUMBER_FIELDS else value
    return SourceRow(number, data)


def _csv_number(text: str) -> object:
    """A whole number from CSV text; anything else is left as text for the validator to
    refuse as "must be a whole number" (``12.99``, ``1,299``, ``ten``)."""
    if _WHOLE_NUMBER.fullmatch(text) is None:
        return text
    if len(text.lstrip("+-")) > MAX_NUMBER_DIGITS:
        return -(10**MAX_NUMBER_DIGITS) if text.startswith("-") else 10**MAX_NUMBER_DIGITS
    return int(text)


# --- CSV: a product with variants over several rows ------------------------------------


def group_variant_rows(rows: Sequence[SourceRow]) -> list[SourceRow]:
    """Join each run of rows that write one product with variants into one product card.

    A run starts at a row with any option or variant cell filled in, and goes on while
    the next row has the same ``sku``. Its first row carries the product's fields and
    option names; every row of it carries one variant (its option values, sku, and
    optional price and image). Later rows may leave the product's fields and option
    names empty or repeat them; a different value is a disagreement, and the product is
    refused whole on the row and column where it is. A row without option or variant
    cells is a plain product, passed on as it is.
    """
    products: list[SourceRow] = []
    run: list[SourceRow] = []
    for row in rows:
        if run and _continues(run[0], row):
            run.append(row)
            continue
        if run:
            products.append(_product_of_run(run))
        run = [row] if _has_variant_cells(row.data) else []
        if not run:
            products.append(row)
    if run:
        products.append(_product_of_run(run))
    return products


def _given(data: Mapping[str, Any], column: str) -> bool:
    value = data.get(column)
    return value is not None and not (isinstance(value, str) and not value.strip())


def _has_variant_cells(data: object) -> bool:
    return isinstance(data, Mapping) and any(_given(data, c) for c in VARIANT_CSV_COLUMNS)


def _csv_sku(data: object) -> str | None:
    if isinstance(data, Mapping) and isinstance(data.get("sku"), str):
        sku: str = data["sku"].strip()
        return sku or None
    return None


def _continues(first: SourceRow, row: SourceRow) -> bool:
    sku = _csv_sku(first.data)
    return sku is not None and _csv_sku(row.data) == sku


class _RunRefused(Exception):
    """The rows of one product disagree: ``problem`` on row ``row``."""

    def __init__(self, row: int, problem: InvalidInput) -> None:
        super().__init__(problem.message)
        self.row = row
        self.problem = problem


def _product_of_run(run: list[SourceRow]) -> SourceRow:
    first = run[0]
    numbers = tuple(row.number for row in run)
    try:
        data = _card_of_run(run)
    except _RunRefused as refusal:
        return SourceRow(
            first.number,
            first.data,
            refusal.problem,
            problem_row=refusal.row,
            variant_rows=numbers,
        )
    return SourceRow(first.number, data, variant_rows=numbers)


def _card_of_run(run: list[SourceRow]) -> dict[str, object]:
    """The product card (with ``options`` and ``variants``) the rows of ``run`` write."""
    for row in run:
        if row.problem is not None:
            raise _RunRefused(row.number, row.problem)
    first = run[0]
    head = v.require_mapping(first.data, ROW_FIELD)
    named = [_given(head, column) for column in OPTION_NAME_COLUMNS]
    count = max((n + 1 for n, is_named in enumerate(named) if is_named), default=0)
    for n in range(count):
        if not named[n]:
            raise _RunRefused(
                first.number,
                InvalidInput(
                    f"{OPTION_NAME_COLUMNS[n]} is empty but {OPTION_NAME_COLUMNS[count - 1]} "
                    "is not: name the options from option1 on, with no gap",
                    field=OPTION_NAME_COLUMNS[n],
                ),
            )
    card: dict[str, object] = {c: head[c] for c in CSV_PRODUCT_COLUMNS if c in head}
    card["options"] = [head[column] for column in OPTION_NAME_COLUMNS[:count]]
    variants: list[dict[str, object]] = []
    for row in run:
        data = v.require_mapping(row.data, ROW_FIELD)
        if row is not first:
            _check_agrees(first, head, row, data)
        variants.append(_variant_of_row(row, data, count, first))
    card["variants"] = variants
    return card


def _check_agrees(
    first: SourceRow, head: Mapping[str, Any], row: SourceRow, data: Mapping[str, Any]
) -> None:
    """A later row of a product may repeat the product's fields, never change them."""
    for column in (*CSV_PRODUCT_COLUMNS, *OPTION_NAME_COLUMNS):
        if not _given(data, column) or data[column] == head.get(column):
            continue
        earlier = f"{head[column]!r}" if _given(head, column) else "empty"
        raise _RunRefused(
            row.number,
            InvalidInput(
                f"{column} is {data[column]!r} here but {earlier} in row {first.number}, the "
                f"first row of product {_csv_sku(head)!r}: the later rows of a product leave "
                "its fields and option names empty, or repeat them",
                field=column,
            ),
        )


def _variant_of_row(
    row: SourceRow, data: Mapping[str, Any], count: int, first: SourceRow
) -> dict[str, object]:
    for column in OPTION_VALUE_COLUMNS[count:]:
        if _given(data, column):
            name = column.removesuffix("_value") + "_name"
            raise _RunRefused(
                row.number,
                InvalidInput(
                    f"{column} is {data[column]!r} but the product has no {name} (option "
                    f"names go in its first row, row {first.number})",
                    field=column,
                ),
            )
    if count and not _given(data, "variant_sku"):
        raise _RunRefused(
            row.number,
            InvalidInput(
                "variant_sku is required: each row of a product with options is one of its "
                "variants, sold under its own sku",
                field="variant_sku",
            ),
        )
    # An empty value cell stays in the list, so the values keep their options' places
    # and the card's validator refuses it naming the option it belongs to.
    variant: dict[str, object] = {
        "values": [data.get(column, "") for column in OPTION_VALUE_COLUMNS[:count]]
    }
    for name, column in VARIANT_COLUMN_OF.items():
        if _given(data, column):
            variant[name] = data[column]
    return variant


def _csv_place(row: SourceRow, field: str | None) -> tuple[int, str]:
    """The row and column of a CSV product with variants that a refusal's ``field`` (a
    path in the product card) points at; the product's first row for its own fields."""
    if field is None:
        return row.number, ROW_FIELD
    if (variant := _VARIANT_PATH.fullmatch(field)) is not None:
        index = int(variant[1])
        number = row.variant_rows[index] if index < len(row.variant_rows) else row.number
        name, item = variant[2], variant[3]
        if name is None:
            return number, ROW_FIELD
        if name == "values":
            return number, OPTION_VALUE_COLUMNS[min(int(item or 0), MAX_OPTIONS - 1)]
        return number, VARIANT_COLUMN_OF.get(name, name)
    if field == "variants":
        return row.number, "variant_sku"
    if (option := _OPTION_PATH.fullmatch(field)) is not None:
        return row.number, OPTION_NAME_COLUMNS[min(int(option[1] or 0), MAX_OPTIONS - 1)]
    return row.number, field


# --- checking rows --------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedRows:
    valid: list[tuple[int, Product]]  # (row number, product), in file order
    rejected: list[Rejected]
    # A product written over several CSV rows, by its first row: a refusal when it is
    # written (an unknown brand, a variant SKU another product has) is reported on the
    # row at fault, and its other rows as not imported.
    sources: dict[int, SourceRow] = field(default_factory=dict)


def check_rows(rows: Sequence[SourceRow]) -> CheckedRows:
    """Validate each row with ``Product.from_dict``. A SKU (of a product or of a
    variant) seen in an earlier row, valid or not, makes the later row a duplicate,
    naming the earlier one: variant SKUs are unique across the catalog."""
    valid: list[tuple[int, Product]] = []
    rejected: list[Rejected] = []
    sources: dict[int, SourceRow] = {}
    first_row_of: dict[str, int] = {}
    for row in rows:
        try:
            if row.problem is not None:
                raise row.problem
            product = Product.from_dict(v.require_mapping(row.data, ROW_FIELD))
        except InvalidInput as exc:
            rejected.extend(_rejections(row, exc))
        else:
            duplicate = _duplicate_sku(product, first_row_of)
            if duplicate is not None:
                rejected.extend(_rejections(row, duplicate))
            else:
                valid.append((row.number, product))
                if row.variant_rows:
                    sources[row.number] = row
        for sku, number in _skus_written(row):
            first_row_of.setdefault(sku, number)
    return CheckedRows(valid, rejected, sources)


def _duplicate_sku(product: Product, first_row_of: Mapping[str, int]) -> Conflict | None:
    written = [("sku", product.sku)]
    written += [(f"variants[{i}].sku", variant.sku) for i, variant in enumerate(product.variants)]
    for path, sku in written:
        earlier = first_row_of.get(sku)
        if earlier is not None:
            return Conflict(f"sku {sku!r} is already in row {earlier} of this file", field=path)
    return None


def _skus_written(row: SourceRow) -> list[tuple[str, int]]:
    """Each well-formed SKU the row writes (its product's, its variants'), with the row
    a person finds it on, whether or not the row is valid."""
    data = row.data
    if not isinstance(data, Mapping):
        return []
    written = [(data.get("sku"), row.number)]
    variants = data.get("variants")
    for i, variant in enumerate(variants if isinstance(variants, list) else []):
        if isinstance(variant, Mapping):
            number = row.variant_rows[i] if i < len(row.variant_rows) else row.number
            written.append((variant.get("sku"), number))
    return [
        (sku, number)
        for sku, number in written
        if isinstance(sku, str) and keys.ID_PATTERN.fullmatch(sku)
    ]


def _reported_sku(data: object) -> str | None:
    """The row's SKU as written (cut to a readable length), even when it is malformed."""
    if isinstance(data, Mapping) and isinstance(data.get("sku"), str):
        sku: str = data["sku"]
        return sku[:100]
    return None


def _rejections(row: SourceRow, exc: LivecartError) -> list[Rejected]:
    """The refusal of ``row`` on the row and field at fault, and, for a product written
    over several CSV rows, each of its other rows as not imported with it."""
    message = exc.message
    if row.problem_row is not None and exc is row.problem:
        number, field_name = row.problem_row, exc.field or ROW_FIELD
    elif row.variant_rows:
        number, field_name = _csv_place(row, exc.field)
        message = _in_csv_terms(message, exc.field, field_name)
    else:
        number, field_name = row.number, exc.field or ROW_FIELD
    blamed = Rejected(number, _reported_sku(row.data), exc.code, field_name, message)
    return sorted([blamed, *_not_imported_with(blamed, row.variant_rows)], key=lambda r: r.row)


def _in_csv_terms(message: str, path: str | None, column: str) -> str:
    """A refusal's message naming the CSV column where it names a path of the card
    ("variants[1].values[0] must not be empty" -> "option1_value must not be empty")."""
    if path is None or column == ROW_FIELD:
        return message
    parent, _, leaf = path.rpartition(".")
    for written in (path, f"{parent}: {leaf}" if parent else ""):
        if written and message.startswith(written):
            return column + message[len(written) :]
    return message


def _not_imported_with(blamed: Rejected, rows: Sequence[int]) -> list[Rejected]:
    return [
        Rejected(
            row=number,
            sku=blamed.sku,
            error=blamed.error,
            field=ROW_FIELD,
            message=(
                f"not imported: product {blamed.sku!r} is imported whole or not at all, and "
                f"its row {blamed.row} was rejected ({blamed.field})"
            ),
        )
        for number in rows
        if number != blamed.row
    ]


# --- importing ------------------------------------------------------------------------


async def import_rows(redis: Redis, rows: Sequence[SourceRow]) -> ImportReport:
    """Create or replace every valid row whose brand exists and whose SKUs are free in
    the catalog; report every other row.

    Rows are written in batches of IMPORT_BATCH_ROWS, each in one MULTI. Should Redis
    fail part way, the batches before stay written: importing the same file again is
    safe, since every row is a create-or-replace.
    """
    # Checking 50 000 rows takes a good part of a second of CPU: off the event loop.
    checked = await asyncio.to_thread(check_rows, rows)
    rejected = list(checked.rejected)
    imported = 0
    for start in range(0, len(checked.valid), IMPORT_BATCH_ROWS):
        batch = checked.valid[start : start + IMPORT_BATCH_ROWS]
        refusals = await put_products_checked(redis, [p for _, p in batch])
        refused = {refusal.product.sku: refusal.error for refusal in refusals}
        for number, product in batch:
            error = refused.get(product.sku)
            if error is None:
                imported += 1
                continue
            source = checked.sources.get(number, SourceRow(number, product.to_dict()))
            rejected.extend(_rejections(source, error))
    rejected.sort(key=lambda r: r.row)
    return ImportReport(imported, rejected)


async def import_file(redis: Redis, data: bytes, fmt: ImportFormat) -> ImportReport:
    """Read a whole file (refused whole when unreadable), then import its rows."""
    return await import_rows(redis, await asyncio.to_thread(read_rows, data, fmt))


def render_report(report: ImportReport, source: str) -> str:
    """The report as ``livecart import-catalog`` prints it."""
    noun = "product" if report.imported == 1 else "products"
    lines = [f"{report.imported} {noun} imported from {source}"]
    if report.rejected:
        count = len(report.rejected)
        lines.append(
            f"{count} {'row was' if count == 1 else 'rows were'} rejected and not imported "
            "(every other row was):"
        )
        for r in report.rejected:
            sku = f" (sku {r.sku!r})" if r.sku is not None else ""
            lines.append(f"  row {r.row}{sku}: {r.field}: {r.message} [{r.error}]")
    else:
        lines.append("no rows were rejected")
    return "\n".join(lines) + "\n"

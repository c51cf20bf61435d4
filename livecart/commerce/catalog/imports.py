"""Bulk catalog import: a JSON array or a CSV file of products, imported row by row.

Every valid row is created or replaced; every other row is reported with its number,
the field at fault and why, and changes nothing. A file that cannot be read at all (too
large, too many rows, not UTF-8, not JSON, malformed CSV, a header naming no known
field) is refused whole, before anything is written.

Row numbers are what a person sees in the file: for CSV the header is row 1 and the
first product row 2, a blank line counts as a row (and is skipped), and a quoted field
spanning lines is still one row, as a spreadsheet shows it; for JSON the first item of
the array is row 1.

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
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath
from typing import Any

import orjson
from redis.asyncio import Redis

from livecart import validation as v
from livecart.commerce.catalog.products import (
    PRODUCT_FIELDS,
    REQUIRED_PRODUCT_FIELDS,
    Product,
    put_products,
)
from livecart.errors import InvalidInput, LivecartError, UnsupportedMediaType
from livecart.store import keys

MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_IMPORT_ROWS = 50_000
# Rows written per MULTI: large enough that a 50 000-row file costs 100 fsyncs under
# appendfsync always, small enough that no single EXEC holds Redis up for long.
IMPORT_BATCH_ROWS = 500
CSV_NUMBER_FIELDS = frozenset({"price", "commission_bps", "per_user_limit"})
# A number with more digits than this is out of every field's range; it is kept as a
# too-large value for the validator to refuse, rather than converted digit by digit.
MAX_NUMBER_DIGITS = 30
BOM = "\ufeff"
ROW_FIELD = "row"  # the `field` of a rejection that concerns the row as a whole

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


class ImportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


@dataclass(frozen=True)
class SourceRow:
    """One row as read from the file, before validation.

    ``problem`` is set when the row could not even be turned into fields (a CSV row
    with more or fewer cells than the header).
    """

    number: int
    data: object
    problem: InvalidInput | None = None


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
        if name not in PRODUCT_FIELDS:
            raise _unreadable(
                f"the header names {name[:80]!r}, which is not a product field; the columns "
                f"are {', '.join(PRODUCT_FIELDS)} (sku, brand, title, price and currency required)"
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


# --- checking rows --------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedRows:
    valid: list[tuple[int, Product]]  # (row number, product), in file order
    rejected: list[Rejected]


def check_rows(rows: Sequence[SourceRow]) -> CheckedRows:
    """Validate each row with ``Product.from_dict``; a SKU seen in an earlier row
    (valid or not) makes the later row a duplicate, naming the earlier one."""
    valid: list[tuple[int, Product]] = []
    rejected: list[Rejected] = []
    first_row_of: dict[str, int] = {}
    for row in rows:
        sku = _valid_sku(row.data)
        try:
            if row.problem is not None:
                raise row.problem
            product = Product.from_dict(v.require_mapping(row.data, ROW_FIELD))
        except InvalidInput as exc:
            rejected.append(_rejection(row, exc))
        else:
            earlier = first_row_of.get(product.sku)
            if earlier is not None:
                rejected.append(
                    Rejected(
                        row=row.number,
                        sku=product.sku,
                        error="conflict",
                        field="sku",
                        message=f"sku {product.sku!r} is already in row {earlier} of this file",
                    )
                )
            else:
                valid.append((row.number, product))
        if sku is not None:
            first_row_of.setdefault(sku, row.number)
    return CheckedRows(valid, rejected)


def _valid_sku(data: object) -> str | None:
    if not isinstance(data, Mapping):
        return None
    sku = data.get("sku")
    if isinstance(sku, str) and keys.ID_PATTERN.fullmatch(sku):
        return sku
    return None


def _reported_sku(data: object) -> str | None:
    """The row's SKU as written (cut to a readable length), even when it is malformed."""
    if isinstance(data, Mapping) and isinstance(data.get("sku"), str):
        sku: str = data["sku"]
        return sku[:100]
    return None


def _rejection(row: SourceRow, exc: LivecartError) -> Rejected:
    return Rejected(
        row=row.number,
        sku=_reported_sku(row.data),
        error=exc.code,
        field=exc.field or ROW_FIELD,
        message=exc.message,
    )


# --- importing ------------------------------------------------------------------------


async def import_rows(redis: Redis, rows: Sequence[SourceRow]) -> ImportReport:
    """Create or replace every valid row whose brand exists; report every other row.

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
        refused = {p.sku for p in await put_products(redis, [p for _, p in batch])}
        for number, product in batch:
            if product.sku in refused:
                rejected.append(
                    Rejected(
                        row=number,
                        sku=product.sku,
                        error="not_found",
                        field="brand",
                        message=f"brand {product.brand!r} does not exist",
                    )
                )
            else:
                imported += 1
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

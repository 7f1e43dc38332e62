"""The subscriber lists an operator imports, read row by row so a bad row is reported with its
line number while the good rows are kept.

No I/O and no SQL: the command reads the file and the store adds the rows; this module only
says which rows are good, by :func:`publisher.addresses.normalise_address` and the digests the
settings declare.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from publisher.addresses import AddressError, normalise_address

ADDRESS_COLUMNS = ("email", "address", "e-mail")


@dataclass
class ImportedRow:
    """One good row of a subscriber list: the address and the digests it names, if any."""

    line: int
    address: str
    digests: tuple[str, ...] = ()


@dataclass
class CsvResult:
    """The good rows, and one problem per bad row naming its line."""

    rows: list[ImportedRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _address_column(header: list[str]) -> int | None:
    lowered = [name.strip().lower() for name in header]
    return next((lowered.index(name) for name in ADDRESS_COLUMNS if name in lowered), None)


def read_csv(text: str, known_digests: Iterable[str]) -> CsvResult:
    """Rows of ``email[,digests]``; a header naming an ``email`` column is optional.

    Digests are separated by spaces or ``|`` within their column. Duplicates (after
    normalising) are reported once and kept once, so importing twice changes nothing.
    """
    known = set(known_digests)
    result, seen = CsvResult(), set()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    column, digests_column = 0, 1
    for line, record in enumerate(reader, 1):
        if not record or not "".join(record).strip() or record[0].lstrip().startswith("#"):
            continue
        if line == 1 and (header := _address_column(record)) is not None:
            column, digests_column = header, 1 - header if len(record) > 1 else -1
            continue
        try:
            address = normalise_address(record[column] if column < len(record) else "")
        except AddressError as exc:
            result.problems.append(f"line {line}: {exc}")
            continue
        raw = record[digests_column] if 0 <= digests_column < len(record) else ""
        digests = tuple(name for name in raw.replace("|", " ").split() if name)
        unknown = sorted(set(digests) - known)
        if unknown:
            result.problems.append(f"line {line}: unknown digest(s) {', '.join(unknown)}")
            continue
        if address.lower() in seen:
            result.problems.append(f"line {line}: {address} appears twice; kept once")
            continue
        seen.add(address.lower())
        result.rows.append(ImportedRow(line, address, digests))
    return result

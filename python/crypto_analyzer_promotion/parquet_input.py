"""A family of series from Parquet, read without pandas' copies: the layout from the files'
metadata (hypothesis columns, T), and the values straight into the one float64 array the engine
takes. The CLI's ``rc`` reads a file with it (one process) and a distributed run's block tasks
read their own columns with it (docs/distributed.md); pyarrow comes with pandas' Parquet support.

Layout, as the CLI has always read a file: the first column is the time unless the pandas
metadata names a stored index; every other column is a hypothesis (integer, float or boolean).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exceptions import InvalidInputError

__all__ = ["ParquetColumns", "parquet_files", "parquet_layout", "READ_GROUP"]

# Columns read at a time (the array is filled in place, so a reader holds the array plus one
# group's Arrow buffers, never the values twice).
READ_GROUP = 256


@dataclass(frozen=True)
class ParquetColumns:
    """Columns ``columns`` of Parquet ``files`` (rows concatenated in file order), ``t`` rows: a
    small picklable description (a distributed block task reads its own columns with it)."""

    files: tuple[str, ...]
    columns: tuple[str, ...]
    t: int

    def read(self) -> np.ndarray:
        """The columns as one T x K float64 array in column order (Fortran layout, as the engine
        takes it), filled in place a group of columns at a time."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        out = np.empty((self.t, len(self.columns)), dtype=np.float64, order="F")
        row = 0
        for f in self.files:
            try:
                pf = pq.ParquetFile(f)  # the footer parsed once per file, not once per group
                n = pf.metadata.num_rows
                if row + n > self.t:
                    raise InvalidInputError(f"{f} has more rows than when the run started: the data changed")
                for g in range(0, len(self.columns), READ_GROUP):
                    names = list(self.columns[g : g + READ_GROUP])
                    table = pf.read(columns=names)
                    if table.num_rows != n:
                        raise InvalidInputError(f"{f}: {table.num_rows} rows read where its metadata says {n}")
                    for i, name in enumerate(names):
                        col = table.column(name).cast(pa.float64(), safe=False)
                        out[row : row + n, g + i] = col.to_numpy(zero_copy_only=False)
                    del table
            except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
                if isinstance(exc, InvalidInputError):
                    raise
                raise InvalidInputError(f"cannot read columns of {f}: {exc}") from None
            row += n
        if row != self.t:
            raise InvalidInputError(f"the Parquet data has {row} rows, {self.t} when the run started: the data changed")
        return out


def parquet_files(path: Path) -> list[Path]:
    """The file itself, or a folder's .parquet / .pq files in name order."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".parquet", ".pq"))
        if not files:
            raise InvalidInputError(f"{path}: no .parquet files in the folder")
        return files
    raise InvalidInputError(f"Parquet file or folder not found: {path}")


def parquet_layout(path: Path) -> tuple[list[str], list[str], int]:
    """(files, hypothesis columns as stored, T) from the files' metadata only. The first column
    is the time unless the pandas metadata names a stored index (as the CLI reads a file)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    files = parquet_files(path)
    names: list[str] | None = None
    t = 0
    for f in files:
        try:
            meta = pq.read_metadata(f)
            schema = meta.schema.to_arrow_schema()
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise InvalidInputError(f"cannot read {f}: {exc}") from None
        t += meta.num_rows
        pandas_meta = json.loads((schema.metadata or {}).get(b"pandas", b"{}") or b"{}")
        index_cols = [c for c in pandas_meta.get("index_columns", []) if isinstance(c, str)]
        fields = [fld for fld in schema if fld.name not in index_cols]
        if not index_cols:
            fields = fields[1:]  # the first column is the time
        bad = [
            fld.name
            for fld in fields
            if not (pa.types.is_integer(fld.type) or pa.types.is_floating(fld.type) or pa.types.is_boolean(fld.type))
        ]
        if bad:
            raise InvalidInputError(f"{f}: non-numeric column(s): {', '.join(bad[:5])}")
        these = [fld.name for fld in fields]
        if names is None:
            names = these
        elif these != names:
            missing = [c for c in names if c not in these]
            extra = [c for c in these if c not in names]
            detail = (f"missing {', '.join(missing[:5])}" if missing else "") + (
                f"{'; ' if missing else ''}extra {', '.join(extra[:5])}" if extra else ""
            )
            raise InvalidInputError(
                f"{f}: columns differ from {files[0]} ({detail or 'another order'}); every file must have the same columns"
            )
    if not names:
        raise InvalidInputError(f"{path}: expected a time column and one column per hypothesis")
    if len(set(names)) != len(names):
        raise InvalidInputError(f"{path}: duplicate hypothesis columns")
    return [os.fspath(f) for f in files], names, t

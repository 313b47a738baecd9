"""Items of a distributed Map from files (versions-and-maprun.md §5): CloudFlow's ItemReader fields,
with bucket names mapped to local directories by the server's ``oss_buckets`` setting. A key is a
``/``-separated path below that directory; one that leaves it (``..``, a symlink) does not exist,
and a ResultWriter prefix that leaves it is refused.

Items are streamed: objects are read a buffer at a time and parsed item by item, and reading stops
as soon as the Map has all it takes (``MaxItems``) or one item more than its item limit (then
``FnF.DataLimitExceeded``). One byte budget, ``MAX_OBJECT_BYTES`` of content (after decompression),
covers every object a Map Run reads together, so a manifest that lists the same file many times
cannot multiply it. Memory is bounded by the budget and the item limit, not by the files.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from stateway.runtime import IntegrationError
from stateway.timefmt import iso

SOURCE_TYPES = ("OSS_OBJECTS", "OSS_CSV", "OSS_JSON_LIST", "OSS_INVENTORY_FILES")
# what one Map Run may read, all its objects together (content, after decompression): a bad flow or
# file must not take the server's memory (items are limited again by the Map's item limit)
MAX_OBJECT_BYTES = 16 * 1024 * 1024
MAX_OBJECTS_LISTED = 100_000
DELIMITERS = {"COMMA": ",", "SEMICOLON": ";", "PIPE": "|", "TAB": "\t", "SPACE": " "}
_BUFFER = 64 * 1024
_JSON_SPACE = " \t\n\r"


class _Reading:
    """One Map Run's read: the byte budget left, and the object being read (for messages)."""

    def __init__(self) -> None:
        self.left = MAX_OBJECT_BYTES  # read when the run starts, so a test may lower it
        self.limit = MAX_OBJECT_BYTES
        self.key = ""

    def take(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise IntegrationError("FnF.DataLimitExceeded", f"{self.key}: the objects this Map Run reads pass the "
                                   f"{self.limit}-byte read limit (all objects together)")


class _Counted(io.RawIOBase):
    """A binary stream whose bytes are taken from the run's budget as they are read."""

    def __init__(self, inner: IO[bytes], reading: _Reading) -> None:
        self.inner = inner
        self.reading = reading

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(min(len(buffer), _BUFFER))
        self.reading.take(len(data))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            super().close()


def _bucket(buckets: dict[str, str], name: Any) -> Path:
    if not isinstance(name, str) or name not in buckets:
        raise IntegrationError("OSS.NoSuchBucket", f"bucket {name!r} has no local directory on this server; set "
                               f"oss_buckets.{name} in the config file (or --oss-bucket {name}=DIR)")
    return Path(buckets[name]).resolve()


def _object(root: Path, bucket: str, key: Any) -> Path:
    if not isinstance(key, str) or not key or ".." in key.split("/"):
        raise IntegrationError("OSS.NoSuchKey", f"no object {key!r} in bucket {bucket!r}")
    path = (root / key).resolve()
    if root not in path.parents or not path.is_file():
        raise IntegrationError("OSS.NoSuchKey", f"no object {key!r} in bucket {bucket!r}")
    return path


def _open_text(path: Path, key: str, reading: _Reading, *, gzipped: bool = False) -> io.TextIOWrapper:
    """The object as text, read a buffer at a time within the run's budget (a leading BOM dropped)."""
    reading.key = key
    if not gzipped and path.stat().st_size > reading.left:
        raise IntegrationError("FnF.DataLimitExceeded", f"{key}: over the {reading.limit}-byte read limit of a "
                               "Map Run (all objects together)")
    raw: IO[bytes] = gzip.open(path) if gzipped else path.open("rb")
    return io.TextIOWrapper(io.BufferedReader(_Counted(raw, reading), _BUFFER), encoding="utf-8-sig", newline="")


def _csv_rows(stream: IO[str], key: str, config: dict[str, Any]) -> Iterator[dict[str, str]]:
    delimiter = config.get("CSVDelimiter", ",")
    delimiter = DELIMITERS.get(delimiter, delimiter)
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise IntegrationError("FnF.InvalidArgument", f"ReaderConfig.CSVDelimiter {delimiter!r} is not one character")
    headers = config.get("CSVHeaders")
    if headers is not None and (not isinstance(headers, list) or not all(isinstance(h, str) for h in headers)):
        raise IntegrationError("FnF.InvalidArgument", "ReaderConfig.CSVHeaders must be a list of names")
    rows = (r for r in csv.reader(stream, delimiter=delimiter, strict=True) if r)
    number = 1
    if headers is None:
        headers = next(rows, None)
        if headers is None:
            return
        number = 2
    for row in rows:
        if len(row) != len(headers):
            raise IntegrationError("FnF.InvalidArgument", f"{key}: row {number} has {len(row)} fields, the header "
                                   f"{len(headers)}")
        yield dict(zip(headers, row, strict=True))
        number += 1


def _json_list(text: str, key: str) -> Iterator[Any]:
    """The elements of a JSON array, decoded one at a time (so reading can stop at the limit)."""
    decoder = json.JSONDecoder()
    at = len(text) - len(text.lstrip(_JSON_SPACE))
    if not text.startswith("[", at):
        try:
            whole = json.loads(text)
        except ValueError as exc:
            raise IntegrationError("FnF.InvalidArgument", f"{key}: not JSON ({exc})") from None
        raise IntegrationError("FnF.InvalidArgument", f"{key}: holds {type(whole).__name__}, not a JSON array")
    at += 1
    first = True
    try:
        while True:
            while at < len(text) and text[at] in _JSON_SPACE:
                at += 1
            if text.startswith("]", at):
                at += 1
                break
            if not first:
                if not text.startswith(",", at):
                    raise ValueError(f"expected ',' or ']' at character {at}")
                at += 1
                while at < len(text) and text[at] in _JSON_SPACE:
                    at += 1
            value, at = decoder.raw_decode(text, at)
            first = False
            yield value
        if text[at:].strip(_JSON_SPACE):
            raise ValueError(f"extra data at character {at}")
    except ValueError as exc:
        raise IntegrationError("FnF.InvalidArgument", f"{key}: not JSON ({exc})") from None


def _objects(root: Path, bucket: str, prefix: str) -> list[dict[str, Any]]:
    found = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            key = path.relative_to(root).as_posix()
            if key.startswith(prefix) and path.is_file() and not path.is_symlink():
                if len(found) >= MAX_OBJECTS_LISTED:
                    raise IntegrationError("FnF.DataLimitExceeded", f"bucket {bucket!r}: more than "
                                           f"{MAX_OBJECTS_LISTED} objects under {prefix!r}")
                stat = path.stat()
                found.append({"Bucket": bucket, "Key": key, "Size": stat.st_size, "LastModified": iso(stat.st_mtime)})
    return sorted(found, key=lambda item: item["Key"])


def _items(kind: Any, params: dict[str, Any], config: dict[str, Any], root: Path, bucket: str,
           reading: _Reading) -> Iterator[Any]:
    if kind == "OSS_OBJECTS":
        yield from _objects(root, bucket, params.get("Prefix") or "")
        return
    if kind not in SOURCE_TYPES:
        raise IntegrationError("FnF.InvalidArgument", f"unknown SourceType {kind!r}; expected one of "
                               f"{', '.join(SOURCE_TYPES)}")
    key = params.get("ObjectName")
    path = _object(root, bucket, key)
    with _open_text(path, key, reading) as stream:
        if kind == "OSS_CSV":
            yield from _csv_rows(stream, key, config)
            return
        text = stream.read()
    if kind == "OSS_JSON_LIST":
        yield from _json_list(text, key)
        return
    try:  # OSS_INVENTORY_FILES
        manifest = json.loads(text)
        columns = [c.strip() for c in manifest["fileSchema"].split(",")]
        if manifest.get("fileFormat", "CSV") != "CSV":
            raise ValueError("only fileFormat CSV is read")
        files = [f["key"] for f in manifest["files"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IntegrationError("FnF.InvalidArgument", f"{key}: not an inventory manifest ({exc})") from None
    del text
    for part in files:
        part_path = _object(root, bucket, part)
        try:
            with _open_text(part_path, part, reading, gzipped=True) as stream:
                yield from _csv_rows(stream, part, {"CSVHeaders": columns})
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise IntegrationError("FnF.InvalidArgument", f"{part}: not gzip ({exc})") from None


def read_items(reader: dict[str, Any], buckets: dict[str, str], *, max_items: int | None = None,
               item_limit: int | None = None) -> list[Any]:
    """The items, in order: at most ``max_items`` (MaxItems: the rest is not read);
    ``FnF.DataLimitExceeded`` once there are more than ``item_limit`` of them."""
    kind = reader.get("SourceType")
    params = reader.get("SourceParameters") or {}
    config = reader.get("ReaderConfig") or {}
    bucket = params.get("Bucket")
    root = _bucket(buckets, bucket)
    reading = _Reading()
    items: list[Any] = []
    source = _items(kind, params, config, root, bucket, reading)
    try:
        for item in source:
            if max_items is not None and len(items) >= max_items:
                break
            if item_limit is not None and len(items) >= item_limit:
                raise IntegrationError("FnF.DataLimitExceeded", f"the Map has more than {item_limit} items, over the "
                                       f"limit of {item_limit} (reading stopped at item {item_limit + 1})")
            items.append(item)
    except csv.Error as exc:
        raise IntegrationError("FnF.InvalidArgument", f"{reading.key or params.get('ObjectName')}: bad CSV "
                               f"({exc})") from None
    except UnicodeDecodeError as exc:
        raise IntegrationError("FnF.InvalidArgument", f"{reading.key}: not UTF-8 text ({exc})") from None
    except OSError as exc:
        raise IntegrationError("OSS.NoSuchKey", f"bucket {bucket!r}: {exc.strerror or exc}") from None
    finally:
        source.close()
    return items


def writer_root(buckets: dict[str, str], writer: dict[str, Any]) -> tuple[Path, str]:
    """The directory and key prefix a ResultWriter writes below; resolved when the Map starts (§4.8).
    A prefix that leads out of the bucket (``..``, or through a symbolic link) is refused."""
    root = _bucket(buckets, writer.get("Bucket"))
    prefix = str(writer.get("Prefix") or "").strip("/")
    if ".." in prefix.split("/"):
        raise IntegrationError("FnF.InvalidArgument", f"ResultWriter Prefix {prefix!r} may not contain '..'")
    _inside(root, root / prefix, writer.get("Bucket"), prefix)
    return root, prefix


def _inside(root: Path, path: Path, bucket: Any, prefix: str) -> Path:
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise IntegrationError("FnF.InvalidArgument", f"ResultWriter Prefix {prefix!r} leads out of bucket "
                               f"{bucket!r} (through a symbolic link); results are written inside the bucket only")
    return resolved


def _write(path: Path, text: str) -> None:
    """Write a new file's content; a symbolic link in its place is not followed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def write_results(buckets: dict[str, str], writer: dict[str, Any], run_name: str, records: list[dict[str, Any]],
                  manifest: dict[str, Any]) -> dict[str, Any]:
    """{Prefix}/{run}/results.json and manifest.json; returns the Map's output, AWS's shape."""
    root, prefix = writer_root(buckets, writer)  # checked again: a link may have appeared since the start
    base = f"{prefix}/{run_name}" if prefix else run_name
    folder = _inside(root, root / base, writer["Bucket"], base)
    folder.mkdir(parents=True, exist_ok=True)
    folder = _inside(root, root / base, writer["Bucket"], base)  # nothing swapped in while it was made
    _write(folder / "results.json", json.dumps(records, ensure_ascii=False))
    _write(folder / "manifest.json", json.dumps({**manifest, "ResultFiles": [f"{base}/results.json"]},
                                                ensure_ascii=False))
    return {"ResultWriterDetails": {"Bucket": writer["Bucket"], "Key": f"{base}/manifest.json"}}

"""Items of a distributed Map from files (versions-and-maprun.md §5): CloudFlow's ItemReader fields,
with bucket names mapped to local directories by the server's ``oss_buckets`` setting. A key is a
``/``-separated path below that directory; one that leaves it (``..``, a symlink) does not exist."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path
from typing import Any

from stateway.runtime import IntegrationError
from stateway.timefmt import iso

SOURCE_TYPES = ("OSS_OBJECTS", "OSS_CSV", "OSS_JSON_LIST", "OSS_INVENTORY_FILES")
# what one Map Run may read: a bad flow or file must not take the server's memory (items are then
# limited again by the Map's item limit)
MAX_OBJECT_BYTES = 16 * 1024 * 1024
MAX_OBJECTS_LISTED = 100_000
DELIMITERS = {"COMMA": ",", "SEMICOLON": ";", "PIPE": "|", "TAB": "\t", "SPACE": " "}


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


def _bytes(path: Path, key: str, *, gzipped: bool = False) -> bytes:
    """The object's content, refused past MAX_OBJECT_BYTES (after decompression for gzip)."""
    if path.stat().st_size > MAX_OBJECT_BYTES:
        raise IntegrationError("FnF.DataLimitExceeded", f"{key}: over the {MAX_OBJECT_BYTES}-byte limit of an object")
    if not gzipped:
        return path.read_bytes()
    try:
        with gzip.open(path) as stream:
            data = stream.read(MAX_OBJECT_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise IntegrationError("FnF.InvalidArgument", f"{key}: not gzip ({exc})") from None
    if len(data) > MAX_OBJECT_BYTES:
        raise IntegrationError("FnF.DataLimitExceeded", f"{key}: over the {MAX_OBJECT_BYTES}-byte limit once "
                               "decompressed")
    return data


def _text(path: Path, key: str) -> str:
    try:
        return _bytes(path, key).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntegrationError("FnF.InvalidArgument", f"{key}: not UTF-8 text ({exc})") from None


def _csv_rows(text: str, key: str, config: dict[str, Any]) -> list[dict[str, str]]:
    delimiter = config.get("CSVDelimiter", ",")
    delimiter = DELIMITERS.get(delimiter, delimiter)
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise IntegrationError("FnF.InvalidArgument", f"ReaderConfig.CSVDelimiter {delimiter!r} is not one character")
    rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True) if r]
    headers = config.get("CSVHeaders")
    if headers is None:
        if not rows:
            return []
        headers, rows = rows[0], rows[1:]
    if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
        raise IntegrationError("FnF.InvalidArgument", "ReaderConfig.CSVHeaders must be a list of names")
    items = []
    for number, row in enumerate(rows, start=2 if config.get("CSVHeaders") is None else 1):
        if len(row) != len(headers):
            raise IntegrationError("FnF.InvalidArgument", f"{key}: row {number} has {len(row)} fields, the header "
                                   f"{len(headers)}")
        items.append(dict(zip(headers, row, strict=True)))
    return items


def read_items(reader: dict[str, Any], buckets: dict[str, str]) -> list[Any]:
    kind = reader.get("SourceType")
    params = reader.get("SourceParameters") or {}
    config = reader.get("ReaderConfig") or {}
    bucket = params.get("Bucket")
    root = _bucket(buckets, bucket)
    try:
        if kind == "OSS_OBJECTS":
            prefix = params.get("Prefix") or ""
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
                        found.append({"Bucket": bucket, "Key": key, "Size": stat.st_size,
                                      "LastModified": iso(stat.st_mtime)})
            return sorted(found, key=lambda item: item["Key"])
        key = params.get("ObjectName")
        path = _object(root, bucket, key)
        if kind == "OSS_JSON_LIST":
            try:
                items = json.loads(_text(path, key))
            except ValueError as exc:
                raise IntegrationError("FnF.InvalidArgument", f"{key}: not JSON ({exc})") from None
            if not isinstance(items, list):
                raise IntegrationError("FnF.InvalidArgument", f"{key}: holds {type(items).__name__}, not a JSON array")
            return items
        if kind == "OSS_CSV":
            return _csv_rows(_text(path, key), key, config)
        if kind == "OSS_INVENTORY_FILES":
            try:
                manifest = json.loads(_text(path, key))
                columns = [c.strip() for c in manifest["fileSchema"].split(",")]
                if manifest.get("fileFormat", "CSV") != "CSV":
                    raise ValueError("only fileFormat CSV is read")
                files = [f["key"] for f in manifest["files"]]
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise IntegrationError("FnF.InvalidArgument", f"{key}: not an inventory manifest ({exc})") from None
            items = []
            for part in files:
                data = _bytes(_object(root, bucket, part), part, gzipped=True).decode("utf-8-sig")
                items += _csv_rows(data, part, {"CSVHeaders": columns})
            return items
    except csv.Error as exc:
        raise IntegrationError("FnF.InvalidArgument", f"{params.get('ObjectName')}: bad CSV ({exc})") from None
    except OSError as exc:
        raise IntegrationError("OSS.NoSuchKey", f"bucket {bucket!r}: {exc.strerror}") from None
    raise IntegrationError("FnF.InvalidArgument", f"unknown SourceType {kind!r}; expected one of "
                           f"{', '.join(SOURCE_TYPES)}")


def writer_root(buckets: dict[str, str], writer: dict[str, Any]) -> tuple[Path, str]:
    """The directory and key prefix a ResultWriter writes below; resolved when the Map starts (§4.8)."""
    root = _bucket(buckets, writer.get("Bucket"))
    prefix = str(writer.get("Prefix") or "").strip("/")
    if ".." in prefix.split("/"):
        raise IntegrationError("FnF.InvalidArgument", f"ResultWriter Prefix {prefix!r} may not contain '..'")
    return root, prefix


def write_results(buckets: dict[str, str], writer: dict[str, Any], run_name: str, records: list[dict[str, Any]],
                  manifest: dict[str, Any]) -> dict[str, Any]:
    """{Prefix}/{run}/results.json and manifest.json; returns the Map's output, AWS's shape."""
    root, prefix = writer_root(buckets, writer)
    base = f"{prefix}/{run_name}" if prefix else run_name
    folder = root / base
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(records, ensure_ascii=False))
    (folder / "manifest.json").write_text(json.dumps({**manifest, "ResultFiles": [f"{base}/results.json"]},
                                                     ensure_ascii=False))
    return {"ResultWriterDetails": {"Bucket": writer["Bucket"], "Key": f"{base}/manifest.json"}}

"""ItemReader streams (issue 20 §1): reading stops at the item limit or at MaxItems, and one byte
budget covers all the objects a Map Run reads, so neither a file of tiny rows nor a manifest that
lists one file many times can take the server's memory."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap

import pytest

from tests.test_item_reader import flow, run

MIB = 2**20
TINY_ROWS = b"c\n" + b"a\n" * (8 * MIB - 2)  # 16 MiB - 2 bytes: within the byte budget, 8M rows

# run in a fresh interpreter, so that its peak RSS is the reads' and nothing else's
PROBE = textwrap.dedent("""
    import json, sys
    from stateway.runtime import Runtime
    from stateway.settings import Settings
    from stateway.store import SQLiteStore

    bucket, flows = sys.argv[1], json.loads(sys.argv[2])
    runtime = Runtime(SQLiteStore.in_memory(), settings=Settings.from_config({"oss_buckets": {"data": bucket}}))
    runtime.start()
    def peak():  # VmHWM starts again at exec; ru_maxrss may carry the parent's (pytest's) peak over it
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

    before = peak()
    out = {}
    for name, source in flows.items():
        runtime.register_flow(name, source)
        row = runtime.wait(runtime.start_execution(name, {}).id, 120)
        out[name] = row.output
    runtime.close()
    print(json.dumps({"results": out, "before_mib": before,
                      "peak_mib": peak()}))
""")


def reader(kind: str, key: str) -> str:
    return f"      SourceType: {kind}\n      SourceParameters: {{Bucket: data, ObjectName: {key}}}"


def test_large_reads_fail_at_the_item_limit_without_taking_memory(tmp_path):
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    (bucket / "tiny.csv").write_bytes(TINY_ROWS)
    (bucket / "tiny.csv.gz").write_bytes(gzip.compress(TINY_ROWS[2:]))
    (bucket / "manifest.json").write_text(json.dumps({"fileFormat": "CSV", "fileSchema": "c",
                                                      "files": [{"key": "tiny.csv.gz"}] * 12}))
    (bucket / "ones.json").write_bytes(b"[" + b"1," * (8 * MIB - 2) + b"1]")
    (bucket / "objects.json").write_bytes(b"[" + b"{}," * (5 * MIB) + b"{}]")
    flows = {"csv": flow(reader("OSS_CSV", "tiny.csv")),
             "inventory": flow(reader("OSS_INVENTORY_FILES", "manifest.json")),
             "ones": flow(reader("OSS_JSON_LIST", "ones.json")),
             "objects": flow(reader("OSS_JSON_LIST", "objects.json")),
             # MaxItems: the first items only, and the rest is never read
             "first": flow(reader("OSS_CSV", "tiny.csv")).replace("    Processor:", "    MaxItems: 3\n    Processor:",
                                                                   1)}
    done = subprocess.run([sys.executable, "-c", PROBE, str(bucket), json.dumps(flows)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    results = probe["results"]
    for name in ("csv", "inventory", "ones", "objects"):
        error = results[name]["error"]
        assert error["Code"] == "FnF.DataLimitExceeded" and "more than 10000 items" in error["Detail"], (name, error)
    assert results["first"] == {"items": [{"c": "a"}] * 3}
    # before streaming: 2.3 GB for the CSV, 1.27 GB for the manifest
    assert probe["peak_mib"] < 300, probe


def test_one_byte_budget_covers_every_object_of_a_run(memory_runtime, tmp_path, monkeypatch):
    from stateway.integrations import _item_reader

    bucket = tmp_path / "bucket"
    bucket.mkdir()
    part = b"x" * 40 + b"\n"
    (bucket / "part.csv.gz").write_bytes(gzip.compress(part))
    for times in (2, 3):
        (bucket / f"manifest{times}.json").write_text(json.dumps(
            {"fileFormat": "CSV", "fileSchema": "c", "files": [{"key": "part.csv.gz"}] * times}))
    manifest_bytes = len((bucket / "manifest3.json").read_bytes())
    monkeypatch.setattr(_item_reader, "MAX_OBJECT_BYTES", manifest_bytes + 2 * len(part) + 10)
    two = run(memory_runtime, bucket, reader("OSS_INVENTORY_FILES", "manifest2.json"))
    assert two.output == {"items": [{"c": "x" * 40}] * 2}, two.output
    three = run(memory_runtime, bucket, reader("OSS_INVENTORY_FILES", "manifest3.json"))
    error = three.output["error"]
    assert error["Code"] == "FnF.DataLimitExceeded" and "all objects together" in error["Detail"], error


@pytest.mark.parametrize(("text", "code", "detail"), [
    ('{"a": 1}', "FnF.InvalidArgument", "holds dict, not a JSON array"),
    ("[1, 2", "FnF.InvalidArgument", "not JSON"),
    ("[1 2]", "FnF.InvalidArgument", "not JSON"),
    ("[1, 2] x", "FnF.InvalidArgument", "not JSON"),
    ("nope", "FnF.InvalidArgument", "not JSON"),
])
def test_a_json_list_that_is_not_one_fails(memory_runtime, tmp_path, text, code, detail):
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    (bucket / "list.json").write_text(text)
    error = run(memory_runtime, bucket, reader("OSS_JSON_LIST", "list.json")).output["error"]
    assert error["Code"] == code and detail in error["Detail"], error


def test_a_json_list_with_spaces_and_a_bom(memory_runtime, tmp_path):
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    (bucket / "list.json").write_bytes("\ufeff \r\n[ {\"n\": 1} ,\n{\"n\": [2]} ]\n".encode())
    ended = run(memory_runtime, bucket, reader("OSS_JSON_LIST", "list.json"))
    assert ended.output == {"items": [{"n": 1}, {"n": [2]}]}, ended.output
    (bucket / "empty.json").write_text(" [ ] ")
    assert run(memory_runtime, bucket, reader("OSS_JSON_LIST", "empty.json")).output == {"items": []}


def test_a_bad_gzip_part_is_invalid_argument(memory_runtime, tmp_path):
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    (bucket / "part.csv.gz").write_bytes(b"not gzip at all")
    (bucket / "manifest.json").write_text(json.dumps({"fileSchema": "c", "files": [{"key": "part.csv.gz"}]}))
    error = run(memory_runtime, bucket, reader("OSS_INVENTORY_FILES", "manifest.json")).output["error"]
    assert error["Code"] == "FnF.InvalidArgument" and "not gzip" in error["Detail"], error


WRITER_FLOW_REPLACE = "    ResultWriter:\n      Parameters: {Bucket: data, Prefix.$: $Input.out}\n    Processor:"


@pytest.mark.parametrize("prefix", ["linkdir", "linkdir/deeper", "in/../linkdir", "filelink"])
def test_result_writer_does_not_follow_links_out_of_the_bucket(memory_runtime, tmp_path, prefix):
    bucket = tmp_path / "bucket"
    (bucket / "in").mkdir(parents=True)
    (bucket / "in" / "list.json").write_text("[{\"n\": 1}]")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (bucket / "linkdir").symlink_to(elsewhere, target_is_directory=True)
    (bucket / "filelink").symlink_to(elsewhere / "file")
    runtime = memory_runtime(oss_buckets={"data": str(bucket)})
    source = flow(reader("OSS_JSON_LIST", "in/list.json")).replace("    Processor:", WRITER_FLOW_REPLACE, 1)
    runtime.register_flow("writes", source)
    ended = runtime.wait(runtime.start_execution("writes", {"out": prefix}).id, 30)
    error = ended.output["error"]
    assert error["Code"] == "FnF.InvalidArgument", error
    assert "out of bucket" in error["Detail"] or "'..'" in error["Detail"], error
    assert list(elsewhere.iterdir()) == []  # nothing written outside
    assert runtime.store.list_executions("writes", map_run=None)[1:] == []  # no child ran


def test_result_writer_refuses_a_link_that_appears_after_the_start(tmp_path):
    from stateway.integrations._item_reader import write_results
    from stateway.runtime import IntegrationError

    bucket, elsewhere = tmp_path / "bucket", tmp_path / "elsewhere"
    bucket.mkdir()
    elsewhere.mkdir()
    (bucket / "out").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(IntegrationError) as caught:
        write_results({"data": str(bucket)}, {"Bucket": "data", "Prefix": "out"}, "run1", [], {})
    assert "out of bucket" in caught.value.cause
    # a results file that is a link out of the bucket is not written through
    (bucket / "out").unlink()
    (bucket / "out" / "run1").mkdir(parents=True)
    (bucket / "out" / "run1" / "results.json").symlink_to(elsewhere / "stolen.json")
    with pytest.raises(OSError):
        write_results({"data": str(bucket)}, {"Bucket": "data", "Prefix": "out"}, "run1", [], {})
    assert list(elsewhere.iterdir()) == []
    output = write_results({"data": str(bucket)}, {"Bucket": "data", "Prefix": "fine/"}, "run2", [{"x": 1}], {})
    assert output == {"ResultWriterDetails": {"Bucket": "data", "Key": "fine/run2/manifest.json"}}
    assert json.loads((bucket / "fine" / "run2" / "results.json").read_text()) == [{"x": 1}]

"""A distributed Map's ItemReader over local directories standing for buckets (versions-and-maprun.md §5)."""

from __future__ import annotations

import gzip
import json

import pytest

from stateway.fdl import FlowDefinitionError, load_flow


def flow(reader: str, constructor: str = "") -> str:
    return f"""Type: StateMachine
SpecVersion: v1
Name: reads
StartAt: Each
States:
  - Type: Map
    Name: Each
    ProcessorConfig: {{Mode: Distributed}}
    ItemReader:
{reader}
{constructor}
    Processor:
      StartAt: Echo
      States:
        - {{Type: Pass, Name: Echo, End: true}}
    Catch:
      - Errors: [FnF.ALL]
        Next: Caught
        OutputConstructor:
          error.$: $Context.Current.Error
    OutputConstructor:
      items.$: $Output.Items
    End: true
  - Type: Pass
    Name: Caught
    End: true
"""


@pytest.fixture
def bucket(tmp_path):
    root = tmp_path / "bucket"
    (root / "in").mkdir(parents=True)
    (root / "in" / "list.json").write_text(json.dumps([{"n": 1}, {"n": 2}, {"n": 3}]))
    (root / "in" / "rows.csv").write_text("\ufeffid;name\n1;ann\n\n2;\"bob; jr\"\n")
    (root / "in" / "bad.csv").write_text("id,name\n1\n")
    (root / "inv").mkdir()
    (root / "inv" / "part1.csv.gz").write_bytes(gzip.compress(b"b,k1\nb,k2\n"))
    (root / "inv" / "manifest.json").write_text(json.dumps({"fileFormat": "CSV", "fileSchema": "Bucket, Key",
                                                            "files": [{"key": "inv/part1.csv.gz"}]}))
    (tmp_path / "secret.json").write_text("[1]")
    return root


def run(memory_runtime, bucket, reader, constructor="", execution_input=None):
    runtime = memory_runtime(oss_buckets={"data": str(bucket)})
    runtime.register_flow("reads", flow(reader, constructor))
    row = runtime.start_execution("reads", execution_input or {})
    return runtime.wait(row.id, 30)


def test_json_list_with_constructor_and_dynamic_key(memory_runtime, bucket):
    reader = ("      SourceType: OSS_JSON_LIST\n      SourceParameters:\n        Bucket: data\n"
              "        ObjectName.$: $Input.key")
    constructor = "    ItemConstructor:\n      value.$: $Item.n * $Input.factor"
    ended = run(memory_runtime, bucket, reader, constructor, {"key": "in/list.json", "factor": 10})
    assert ended.status == "Succeeded", ended
    assert ended.output == {"items": [{"value": 10}, {"value": 20}, {"value": 30}]}


def test_csv_with_delimiter_bom_quotes_and_blank_lines(memory_runtime, bucket):
    reader = ("      SourceType: OSS_CSV\n      SourceParameters: {Bucket: data, ObjectName: in/rows.csv}\n"
              "      ReaderConfig: {CSVDelimiter: SEMICOLON}")
    ended = run(memory_runtime, bucket, reader)
    assert ended.output == {"items": [{"id": "1", "name": "ann"}, {"id": "2", "name": "bob; jr"}]}


def test_objects_and_inventory(memory_runtime, bucket):
    ended = run(memory_runtime, bucket, "      SourceType: OSS_OBJECTS\n      SourceParameters: {Bucket: data, "
                "Prefix: in/}")
    keys = [item["Key"] for item in ended.output["items"]]
    assert keys == ["in/bad.csv", "in/list.json", "in/rows.csv"]
    assert ended.output["items"][1]["Size"] > 0 and ended.output["items"][1]["Bucket"] == "data"
    ended = run(memory_runtime, bucket, "      SourceType: OSS_INVENTORY_FILES\n      SourceParameters: "
                "{Bucket: data, ObjectName: inv/manifest.json}")
    assert ended.output == {"items": [{"Bucket": "b", "Key": "k1"}, {"Bucket": "b", "Key": "k2"}]}


@pytest.mark.parametrize("params, code", [
    ("{Bucket: nowhere, ObjectName: in/list.json}", "OSS.NoSuchBucket"),
    ("{Bucket: data, ObjectName: in/missing.json}", "OSS.NoSuchKey"),
    ("{Bucket: data, ObjectName: ../secret.json}", "OSS.NoSuchKey"),
])
def test_read_errors_fail_the_map_before_any_child(memory_runtime, bucket, params, code):
    ended = run(memory_runtime, bucket, f"      SourceType: OSS_JSON_LIST\n      SourceParameters: {params}")
    assert ended.status == "Succeeded" and ended.output["error"]["Code"] == code  # caught: Catch applies


def test_a_bad_csv_row_is_invalid_argument(memory_runtime, bucket):
    ended = run(memory_runtime, bucket, "      SourceType: OSS_CSV\n      SourceParameters: {Bucket: data, "
                "ObjectName: in/bad.csv}")
    assert ended.output["error"]["Code"] == "FnF.InvalidArgument" and "row 2" in ended.output["error"]["Detail"]


def test_validation():
    with pytest.raises(FlowDefinitionError) as info:
        load_flow(flow("      SourceType: OSS_FILES\n      SourceParameters: {Bucket: data}"))
    assert "OSS_OBJECTS, OSS_CSV, OSS_JSON_LIST, OSS_INVENTORY_FILES" in str(info.value)
    with pytest.raises(FlowDefinitionError) as info:
        load_flow(flow("      SourceType: OSS_CSV\n      SourceParameters: {Bucket: data}"))
    assert "needs ObjectName" in str(info.value)
    inline = flow("      SourceType: OSS_OBJECTS\n      SourceParameters: {Bucket: data}").replace(
        "    ProcessorConfig: {Mode: Distributed}\n", "    ItemsPath: $Input.x\n")
    with pytest.raises(FlowDefinitionError) as info:
        load_flow(inline)
    assert "needs 'ProcessorConfig'" in str(info.value)


def test_result_writer_writes_results_and_manifest(memory_runtime, bucket):
    runtime = memory_runtime(oss_buckets={"data": str(bucket)})
    source = flow("      SourceType: OSS_JSON_LIST\n      SourceParameters: {Bucket: data, ObjectName: in/list.json}")
    source = source.replace("    Processor:", "    ResultWriter:\n      Parameters: {Bucket: data, Prefix.$: $Input.out}\n"
                            "    Processor:", 1).replace("      items.$: $Output.Items", "      details.$: $Output")
    runtime.register_flow("reads", source)
    ended = runtime.wait(runtime.start_execution("reads", {"out": "results/"}).id, 30)
    assert ended.status == "Succeeded", ended
    details = ended.output["details"]["ResultWriterDetails"]
    assert details["Bucket"] == "data" and details["Key"].startswith("results/") and details["Key"].endswith(
        "/manifest.json")
    manifest = json.loads((bucket / details["Key"]).read_text())
    assert manifest["Status"] == "Succeeded" and manifest["ItemCounts"]["Succeed"] == 3
    records = json.loads((bucket / manifest["ResultFiles"][0]).read_text())
    assert [(r["Index"], r["Status"], r["Output"]) for r in records] == [
        (0, "Succeeded", {"n": 1}), (1, "Succeeded", {"n": 2}), (2, "Succeeded", {"n": 3})]


def test_an_unmapped_result_bucket_fails_before_any_child(memory_runtime, bucket):
    runtime = memory_runtime(oss_buckets={"data": str(bucket)})
    source = flow("      SourceType: OSS_JSON_LIST\n      SourceParameters: {Bucket: data, ObjectName: in/list.json}")
    source = source.replace("    Processor:", "    ResultWriter: {Bucket: elsewhere, Prefix: r}\n    Processor:", 1)
    runtime.register_flow("reads", source)
    ended = runtime.wait(runtime.start_execution("reads", {}).id, 30)
    assert ended.output["error"]["Code"] == "OSS.NoSuchBucket"
    assert runtime.store.list_executions("reads", map_run=None)[1:] == []  # no child ran


def test_an_object_over_the_read_limit_fails_while_others_run(memory_runtime, bucket, monkeypatch):
    from stateway.integrations import _item_reader

    monkeypatch.setattr(_item_reader, "MAX_OBJECT_BYTES", 16)
    runtime = memory_runtime(oss_buckets={"data": str(bucket)})
    runtime.register_flow("reads", flow("      SourceType: OSS_JSON_LIST\n      SourceParameters: {Bucket: data, "
                                        "ObjectName: in/list.json}"))
    runtime.register_flow("small", "Type: StateMachine\nSpecVersion: v1\nStartAt: p\nStates:\n"
                                   "  - {Type: Pass, Name: p, End: true}\n")
    big = runtime.start_execution("reads", {})
    small = runtime.wait(runtime.start_execution("small", {}).id, 1)
    assert small.status == "Succeeded"
    ended = runtime.wait(big.id, 30)
    assert ended.output["error"]["Code"] == "FnF.DataLimitExceeded" and "limit" in ended.output["error"]["Detail"]

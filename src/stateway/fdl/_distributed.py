"""Reading a Map's distributed-mode fields (versions-and-maprun.md §4.1-§4.4) into a MapRunConfig."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from stateway.fdl._fields import FieldReader, to_plain
from stateway.fdl._model import MapRunConfig
from stateway.jsontext import dumps

DISTRIBUTED_ONLY = ("ItemReader", "ItemBatcher", "ResultWriter", "MaxItems", "ToleratedFailurePercentage",
                    "ToleratedFailureCount", "ToleratedFailurePercentage.$", "ToleratedFailureCount.$")
NOT_YET: tuple[str, ...] = ()
SOURCE_TYPES = ("OSS_OBJECTS", "OSS_CSV", "OSS_JSON_LIST", "OSS_INVENTORY_FILES")
READER_FIELDS = {"SourceType", "SourceParameters", "ReaderConfig"}
EXECUTION_MODES = ("Express", "Standard")
BATCHER_FIELDS = {"MaxItemsPerBatch", "MaxInputBytesPerBatch", "BatchInput"}


def map_mode(loader: FieldReader, node: CommentedMap, path: str) -> str | None:
    """'inline', 'Express' or 'Standard' (distributed, with that child mode); None after an error."""
    config = node.get("ProcessorConfig")
    if config is None:
        for field in DISTRIBUTED_ONLY:
            if field in node:
                loader.error(f"{path} > {field}", f"{field!r} needs 'ProcessorConfig' (distributed mode); add "
                             "ProcessorConfig: {Mode: Distributed}", node, field)
                return None
        return "inline"
    cpath = f"{path} > ProcessorConfig"
    if not isinstance(config, CommentedMap):
        loader.error(cpath, "expected a mapping with Mode and/or ExecutionMode", node, "ProcessorConfig")
        return None
    loader.unknown_fields(config, {"Mode", "ExecutionMode"}, cpath, "ProcessorConfig")
    mode, execution_mode = config.get("Mode"), config.get("ExecutionMode")
    if mode is not None and (not isinstance(mode, str) or mode.lower() not in ("distributed", "inline")):
        loader.error(f"{cpath} > Mode", f"expected Distributed or Inline, got {mode!r}", config, "Mode")
        return None
    if execution_mode is not None and execution_mode not in EXECUTION_MODES:
        loader.error(f"{cpath} > ExecutionMode", f"expected Express or Standard, got {execution_mode!r}", config,
                     "ExecutionMode")
        return None
    if isinstance(mode, str) and mode.lower() == "inline":
        if execution_mode is not None:
            loader.error(f"{cpath} > ExecutionMode", "an inline Map has no ExecutionMode; use Mode: Distributed",
                         config, "ExecutionMode")
            return None
        return map_mode(loader, CommentedMap((k, v) for k, v in node.items() if k != "ProcessorConfig"), path)
    if mode is None and execution_mode is None:
        loader.error(cpath, "give Mode: Distributed (or ExecutionMode: Express|Standard)", node, "ProcessorConfig")
        return None
    return str(execution_mode or "Express")


def _int_or_expr(loader: FieldReader, node: CommentedMap, key: str, path: str, fields: dict[str, Any], name: str,
                 *, integer: bool = True, high: float | None = None) -> None:
    if f"{key}.$" in node:
        if key in node:
            loader.error(path, f"give either {key!r} or '{key}.$', not both", node, f"{key}.$")
        fields[f"{name}_expr"] = loader.expression(node, f"{key}.$", path)
    elif key in node:
        fields[name] = loader.number(node, key, path, low=0, high=high, integer=integer)


def read_map_run(loader: FieldReader, node: CommentedMap, path: str, execution_mode: str, flow_name: str | None,
                 max_concurrency: int) -> MapRunConfig | None:
    for field in NOT_YET:
        if field in node:
            loader.error(f"{path} > {field}", f"{field!r} is not supported yet; the Map's output holds the "
                         "children's results", node, field)
    fields: dict[str, Any] = {}
    _int_or_expr(loader, node, "ToleratedFailureCount", path, fields, "tolerated_count")
    _int_or_expr(loader, node, "ToleratedFailurePercentage", path, fields, "tolerated_percentage", integer=False,
                 high=100)
    dynamic = [key for key in ("MaxConcurrency.$", "MaxConcuccency.$") if key in node]
    if dynamic:
        fields["max_concurrency_expr"] = loader.expression(node, dynamic[0], path)
    elif max_concurrency:
        fields["max_concurrency"] = max_concurrency
    if "MaxItems" in node:
        raw = node["MaxItems"]
        if isinstance(raw, CommentedMap) and len(raw) == 1:  # tolerant of CloudFlow's unknown shape (§4.2)
            key = next(iter(raw))
            fields["max_items"] = loader.number(raw, key, f"{path} > MaxItems", low=0, integer=True)
        else:
            fields["max_items"] = loader.number(node, "MaxItems", path, low=0, integer=True)
    batcher = node.get("ItemBatcher")
    if batcher is not None:
        bpath = f"{path} > ItemBatcher"
        if not isinstance(batcher, CommentedMap):
            loader.error(bpath, "expected a mapping with MaxItemsPerBatch and/or MaxInputBytesPerBatch", node,
                         "ItemBatcher")
        else:
            loader.unknown_fields(batcher, BATCHER_FIELDS, bpath, "ItemBatcher")
            if "MaxItemsPerBatch" not in batcher and "MaxInputBytesPerBatch" not in batcher:
                loader.error(bpath, "give MaxItemsPerBatch and/or MaxInputBytesPerBatch", node, "ItemBatcher")
            fields["batched"] = True
            fields["batch_max_items"] = loader.number(batcher, "MaxItemsPerBatch", bpath, low=1, integer=True)
            fields["batch_max_bytes"] = loader.number(batcher, "MaxInputBytesPerBatch", bpath, low=1, integer=True)
            fields["batch_input"] = loader.template(batcher, "BatchInput", bpath)
    if "ItemReader" in node:
        _read_item_reader(loader, node, path, fields)
    if "ResultWriter" in node:
        _read_result_writer(loader, node, path, fields)
    processor = node.get("Processor")
    if not isinstance(processor, CommentedMap):
        return None
    return MapRunConfig(execution_mode=execution_mode, processor_source=processor_source(processor, flow_name),
                        **{k: v for k, v in fields.items() if v is not None})


def processor_source(processor: CommentedMap, flow_name: str | None) -> str:
    """The Processor as the standalone flow each child runs (its FlowDefinition)."""
    body = to_plain(processor)
    doc: dict[str, Any] = {"Type": "StateMachine", "SpecVersion": "v1"}
    if flow_name:
        doc["Name"] = flow_name
    doc.update({k: body[k] for k in ("StartAt", "States") if k in body})
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined]
    yaml.dump(doc, out)
    return out.getvalue()


def _read_item_reader(loader: FieldReader, node: CommentedMap, path: str, fields: dict[str, Any]) -> None:
    rpath = f"{path} > ItemReader"
    reader = node["ItemReader"]
    if not isinstance(reader, CommentedMap):
        loader.error(rpath, "expected a mapping with SourceType and SourceParameters", node, "ItemReader")
        return
    loader.unknown_fields(reader, READER_FIELDS, rpath, "ItemReader")
    kind = reader.get("SourceType")
    if kind not in SOURCE_TYPES:
        loader.error(f"{rpath} > SourceType", f"expected one of {', '.join(SOURCE_TYPES)}, got {kind!r}", reader,
                     "SourceType" if "SourceType" in reader else None)
        return
    source = reader.get("SourceParameters")
    if not isinstance(source, CommentedMap) or not ({"Bucket", "Bucket.$"} & set(source)):
        loader.error(f"{rpath} > SourceParameters", "expected a mapping with Bucket (and ObjectName or Prefix)",
                     reader, "SourceParameters" if "SourceParameters" in reader else None)
        return
    if kind != "OSS_OBJECTS" and not ({"ObjectName", "ObjectName.$"} & set(source)):
        loader.error(f"{rpath} > SourceParameters", f"{kind} needs ObjectName", reader, "SourceParameters")
    config = reader.get("ReaderConfig") or CommentedMap()
    if not isinstance(config, CommentedMap):
        loader.error(f"{rpath} > ReaderConfig", "expected a mapping", reader, "ReaderConfig")
        return
    if "MaxItems" in config and "max_items" not in fields:  # the AWS place for MaxItems (§4.2)
        fields["max_items"] = loader.number(config, "MaxItems", f"{rpath} > ReaderConfig", low=0, integer=True)
    if "ItemsPath" in node:
        loader.warning(f"{path} > ItemsPath", "ignored: the items come from ItemReader", node, "ItemsPath")
    fields["reader_kind"] = kind
    fields["reader_parameters"] = loader.template(reader, "SourceParameters", rpath)
    fields["reader_config"] = tuple((str(k), to_plain(v)) for k, v in config.items() if k != "MaxItems")
    if "ItemConstructor" in node:
        fields["item_constructor_source"] = dumps(to_plain(node["ItemConstructor"]))


def _read_result_writer(loader: FieldReader, node: CommentedMap, path: str, fields: dict[str, Any]) -> None:
    wpath = f"{path} > ResultWriter"
    writer = node["ResultWriter"]
    if isinstance(writer, CommentedMap) and set(writer) == {"Parameters"}:
        holder, key, wpath = writer, "Parameters", f"{wpath} > Parameters"
        writer = writer["Parameters"]
    else:
        holder, key = node, "ResultWriter"
    if not isinstance(writer, CommentedMap) or not ({"Bucket", "Bucket.$"} & set(writer)):
        loader.error(wpath, "expected a mapping with Bucket and Prefix", holder, key)
        return
    loader.unknown_fields(writer, {"Bucket", "Bucket.$", "Prefix", "Prefix.$"}, wpath, "ResultWriter")
    fields["result_writer"] = loader.template(holder, key, wpath)

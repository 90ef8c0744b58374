"""Generate docs/api.md from the contract's own comments.

    python scripts/apidocs.py gen [--out FILE]     write docs/api.md (or FILE)
    python scripts/apidocs.py check [--out FILE]   fail when the file is stale

protoc compiles protos/ into a descriptor set with source info, whose comments
say what every service, RPC, message, field and enum value means. An RPC's
errors are the stowage.v1.ErrorReason names its comment mentions, each with the
status code given in brackets in that reason's own comment. Request examples
are built from the request message's fields (output-only fields left out).
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "api.md"
PACKAGE = "stowage.v1"
FieldType = descriptor_pb2.FieldDescriptorProto

# Source-info path numbers (descriptor.proto field numbers).
MESSAGE, ENUM, SERVICE = 4, 5, 6
NESTED_MESSAGE, NESTED_ENUM, FIELD, VALUE, METHOD = 3, 4, 2, 2, 2

# Values of resource-name placeholders, for examples.
PLACEHOLDERS = {
    "environment": "contoso",
    "backup": "20261125-140247-b378de",
    "operation": "8f2c1e0a9b7d4c3e8f2c1e0a9b7d4c3e",
    "collection": "assemblies",
    "artifact": "Contoso.Maps.dll",
    "agreement": "Contoso-Fabrikam-X12",
    "batch": "outbound-850",
    "hybrid_connection": "erp-link",
}
STRING_EXAMPLES = {
    "environment_id": "contoso-dr",
    "request_id": "3f1c9a52-8d0e-4b7a-9f61-2c4de8a7b013",
    "region": "west-europe",
    "page_token": "",
    "message_id": "<4c1f@contoso.example.com>",
    "mic": "sK7r0ExampleMicValue=, sha256",
    "endpoint": "erp.contoso.local:8443",
    "product_version": "2.3.104",
    "access_control_namespace": "contoso-acs",
    "sha256": "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b",  # of "secret"
    "hybrid_connection_id": "erp-link",
}
MAP_EXAMPLES: dict[str, dict[str, str]] = {
    "source_ftp_folders": {"Contoso-Fabrikam-X12": "/ftp/contoso-dr/inbound"},
    "metadata": {"protocol": "x12"},
}
ENUM_EXAMPLES = {f".{PACKAGE}.Edition": "EDITION_STANDARD"}
NUMBER_EXAMPLES = {"page_size": 100, "size_bytes": 6, "transaction_sets": 1}
BYTES_EXAMPLE = "c2VjcmV0"  # base64 of "secret"
WELL_KNOWN_EXAMPLES: dict[str, Any] = {
    ".google.protobuf.Timestamp": "2026-11-25T14:02:47Z",
    ".google.protobuf.FieldMask": "settings.scaleUnits",
    ".google.protobuf.Empty": {},
}
SCALAR_NAMES = {
    FieldType.TYPE_DOUBLE: "double",
    FieldType.TYPE_FLOAT: "float",
    FieldType.TYPE_INT64: "int64",
    FieldType.TYPE_UINT64: "uint64",
    FieldType.TYPE_INT32: "int32",
    FieldType.TYPE_FIXED64: "fixed64",
    FieldType.TYPE_FIXED32: "fixed32",
    FieldType.TYPE_BOOL: "bool",
    FieldType.TYPE_STRING: "string",
    FieldType.TYPE_BYTES: "bytes",
    FieldType.TYPE_UINT32: "uint32",
    FieldType.TYPE_SFIXED32: "sfixed32",
    FieldType.TYPE_SFIXED64: "sfixed64",
    FieldType.TYPE_SINT32: "sint32",
    FieldType.TYPE_SINT64: "sint64",
}
# proto3 JSON writes 64-bit integers as strings.
JSON_STRING_INTEGERS = {
    FieldType.TYPE_INT64,
    FieldType.TYPE_UINT64,
    FieldType.TYPE_FIXED64,
    FieldType.TYPE_SFIXED64,
    FieldType.TYPE_SINT64,
}


def _protos_module() -> Any:
    # scripts/ is not a package; load its sibling by path.
    spec = importlib.util.spec_from_file_location(
        "stowage_protos_script", ROOT / "scripts" / "protos.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    """protos/stowage/v1 compiled with comments (and the files they import)."""
    import grpc_tools
    from grpc_tools import protoc

    protos = _protos_module()
    wkt = Path(grpc_tools.__file__).resolve().parent / "_proto"
    sources = sorted(
        str(p.relative_to(protos.PROTOS))
        for p in (protos.PROTOS / "stowage" / "v1").glob("*.proto")
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.binpb"
        args = [
            "protoc",
            f"-I{protos.PROTOS}",
            f"-I{protos._include_root()}",
            f"-I{wkt}",
            "--include_source_info",
            "--include_imports",
            f"--descriptor_set_out={out}",
            *sources,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def clean(comment: str) -> str:
    lines = [line[1:] if line.startswith(" ") else line for line in comment.strip("\n").split("\n")]
    return "\n".join(lines).strip()


@dataclass
class Message:
    full_name: str  # ".stowage.v1.Backup.Trigger" style, as in type_name
    proto: descriptor_pb2.DescriptorProto
    comment: str
    field_comments: list[str]


@dataclass
class Enum:
    full_name: str
    proto: descriptor_pb2.EnumDescriptorProto
    comment: str
    value_comments: list[str]


@dataclass
class Method:
    proto: descriptor_pb2.MethodDescriptorProto
    comment: str


@dataclass
class Service:
    name: str
    proto: descriptor_pb2.ServiceDescriptorProto
    comment: str
    methods: list[Method] = field(default_factory=list)


@dataclass
class Contract:
    messages: dict[str, Message] = field(default_factory=dict)
    enums: dict[str, Enum] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)
    own_messages: list[str] = field(default_factory=list)  # stowage.v1, in file order
    own_enums: list[str] = field(default_factory=list)


def read_contract(fds: descriptor_pb2.FileDescriptorSet) -> Contract:
    c = Contract()
    for f in fds.file:
        read_file(c, f)
    return c


def read_file(c: Contract, f: descriptor_pb2.FileDescriptorProto) -> None:
    own = f.package == PACKAGE
    comments = {
        tuple(loc.path): clean(loc.leading_comments)
        for loc in f.source_code_info.location
        if loc.leading_comments
    }

    def add_enum(e: descriptor_pb2.EnumDescriptorProto, prefix: str, path: tuple[int, ...]) -> None:
        name = f"{prefix}.{e.name}"
        values = [comments.get((*path, VALUE, i), "") for i in range(len(e.value))]
        c.enums[name] = Enum(name, e, comments.get(path, ""), values)
        if own:
            c.own_enums.append(name)

    def add_message(m: descriptor_pb2.DescriptorProto, prefix: str, path: tuple[int, ...]) -> None:
        name = f"{prefix}.{m.name}"
        fields = [comments.get((*path, FIELD, i), "") for i in range(len(m.field))]
        c.messages[name] = Message(name, m, comments.get(path, ""), fields)
        if own and not m.options.map_entry:
            c.own_messages.append(name)
        for i, nested in enumerate(m.nested_type):
            add_message(nested, name, (*path, NESTED_MESSAGE, i))
        for i, e in enumerate(m.enum_type):
            add_enum(e, name, (*path, NESTED_ENUM, i))

    prefix = f".{f.package}"
    for i, m in enumerate(f.message_type):
        add_message(m, prefix, (MESSAGE, i))
    for i, e in enumerate(f.enum_type):
        add_enum(e, prefix, (ENUM, i))
    if not own:
        return
    for i, s in enumerate(f.service):
        svc = Service(s.name, s, comments.get((SERVICE, i), ""))
        svc.methods = [
            Method(m, comments.get((SERVICE, i, METHOD, j), "")) for j, m in enumerate(s.method)
        ]
        c.services.append(svc)


def short(type_name: str) -> str:
    return type_name.removeprefix(f".{PACKAGE}.").lstrip(".")


def anchor(type_name: str) -> str:
    return short(type_name).lower().replace(".", "")


def link(type_name: str, c: Contract) -> str:
    if type_name in c.own_messages or type_name in c.own_enums:
        return f"[`{short(type_name)}`](#{anchor(type_name)})"
    return f"`{short(type_name)}`"


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    m = re.match(r"(.+?\.)(\s|$)", text)
    return m.group(1) if m else text


# -- errors --------------------------------------------------------------------


@dataclass
class Reason:
    name: str
    code: str
    meaning: str


def reasons(c: Contract) -> dict[str, Reason]:
    enum = c.enums[f".{PACKAGE}.ErrorReason"]
    out = {}
    for value, comment in zip(enum.proto.value, enum.value_comments, strict=True):
        if value.number == 0:
            continue
        m = re.match(r"\[([A-Z_]+)\]\s*(.*)", comment, re.S)
        if not m:
            raise SystemExit(f"ErrorReason.{value.name}: comment must start with [STATUS_CODE]")
        out[value.name] = Reason(value.name, m.group(1), " ".join(m.group(2).split()))
    return out


def rpc_reasons(comment: str, known: dict[str, Reason]) -> list[Reason]:
    seen: list[str] = []
    for word in re.findall(r"\b[A-Z][A-Z0-9_]+\b", comment):
        if word in known and word not in seen:
            seen.append(word)
    return [known[w] for w in seen]


def description(comment: str) -> str:
    """An RPC's comment without its "Errors:" line, which becomes a table."""
    return re.sub(r"\n?Errors:[^\n]*(\n(?!\n)[^\n]*)*", "", comment).strip()


# -- examples ------------------------------------------------------------------


def output_only(comment: str) -> bool:
    return comment.startswith("Output only")


def string_example(name: str, comment: str) -> str:
    if name in STRING_EXAMPLES:
        return STRING_EXAMPLES[name]
    pattern = re.search(r"`([a-z][a-zA-Z]*/[^`]*)`", comment)
    if pattern:
        return re.sub(
            r"\{(\w+)\}", lambda m: PLACEHOLDERS.get(m.group(1), m.group(1)), pattern.group(1)
        )
    return f"{name.replace('_', '-')}-example"


def scalar_example(f: descriptor_pb2.FieldDescriptorProto, comment: str, c: Contract) -> Any:
    if f.type == FieldType.TYPE_STRING:
        return string_example(f.name, comment)
    if f.type == FieldType.TYPE_BOOL:
        return False
    if f.type == FieldType.TYPE_BYTES:
        return BYTES_EXAMPLE
    if f.type == FieldType.TYPE_ENUM:
        values = c.enums[f.type_name].proto.value
        first = next((v.name for v in values if v.number != 0), values[0].name)
        return ENUM_EXAMPLES.get(f.type_name, first)
    number = NUMBER_EXAMPLES.get(f.name, 1)
    return str(number) if f.type in JSON_STRING_INTEGERS else number


def example(type_name: str, c: Contract, depth: int = 0, requests: bool = True) -> Any:
    if type_name in WELL_KNOWN_EXAMPLES:
        return WELL_KNOWN_EXAMPLES[type_name]
    msg = c.messages.get(type_name)
    if msg is None or depth > 4:
        return {}
    out: dict[str, Any] = {}
    oneofs_done: set[int] = set()
    for f, comment in zip(msg.proto.field, msg.field_comments, strict=True):
        if requests and output_only(comment):
            continue
        if f.HasField("oneof_index") and not f.proto3_optional:
            if f.oneof_index in oneofs_done:
                continue  # one member of a oneof at a time
            oneofs_done.add(f.oneof_index)
        entry = c.messages.get(f.type_name) if f.type == FieldType.TYPE_MESSAGE else None
        if entry is not None and entry.proto.options.map_entry:
            _, value = entry.proto.field
            out[f.json_name] = MAP_EXAMPLES.get(f.name) or {
                "key": value_example(value, "", c, depth)
            }
            continue
        value = value_example(f, comment, c, depth)
        out[f.json_name] = [value] if f.label == FieldType.LABEL_REPEATED else value
    return out


def value_example(
    f: descriptor_pb2.FieldDescriptorProto, comment: str, c: Contract, depth: int
) -> Any:
    if f.type == FieldType.TYPE_MESSAGE:
        return example(f.type_name, c, depth + 1)
    return scalar_example(f, comment, c)


# -- rendering -----------------------------------------------------------------


def type_text(f: descriptor_pb2.FieldDescriptorProto, c: Contract) -> str:
    if f.type in (FieldType.TYPE_MESSAGE, FieldType.TYPE_ENUM):
        entry = c.messages.get(f.type_name)
        if entry is not None and entry.proto.options.map_entry:
            key, value = entry.proto.field
            return f"map<{type_text(key, c)}, {type_text(value, c)}>"
        text = link(f.type_name, c)
    else:
        text = f"`{SCALAR_NAMES[f.type]}`"
    return f"repeated {text}" if f.label == FieldType.LABEL_REPEATED else text


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|") or " "


def render(c: Contract) -> str:
    known = reasons(c)
    out: list[str] = []
    w = out.append
    w("# Stowage API reference (stowage.v1)")
    w("")
    w("Generated from `protos/stowage/v1` by `scripts/apidocs.py` (`make apidocs`); do not edit.")
    w("`make lint` fails when this file no longer matches the protos.")
    w("")
    w("Examples are the proto3 JSON form of a request (as `grpcurl -d` takes it); int64")
    w("values are strings, enums are names, output-only fields are left out.")
    w("")
    w("## Contents")
    w("")
    for s in c.services:
        w(f"- [{s.name}](#{s.name.lower()})")
    w("- [Errors](#errors)")
    w("- [Messages](#messages)")
    w("- [Enums](#enums)")
    w("")
    for s in c.services:
        w(f"## {s.name}")
        w("")
        w(s.comment)
        w("")
        for m in s.methods:
            render_method(w, s, m, c, known)
    render_errors(w, known)
    w("## Messages")
    w("")
    for name in c.own_messages:
        render_message(w, c.messages[name], c)
    w("## Enums")
    w("")
    for name in c.own_enums:
        render_enum(w, c.enums[name])
    return "\n".join(out).rstrip() + "\n"


def render_method(w: Any, s: Service, m: Method, c: Contract, known: dict[str, Reason]) -> None:
    p = m.proto
    w(f"### {s.name}.{p.name}")
    w("")
    w(
        f"`rpc {p.name}({'stream ' if p.client_streaming else ''}{short(p.input_type)}) returns "
        f"({'stream ' if p.server_streaming else ''}{short(p.output_type)})`"
    )
    w("")
    w(description(m.comment))
    w("")
    w(f"- Request: {'a stream of ' if p.client_streaming else ''}{link(p.input_type, c)}")
    w(f"- Response: {'a stream of ' if p.server_streaming else ''}{link(p.output_type, c)}")
    w("")
    errors = rpc_reasons(m.comment, known)
    if errors:
        w("Errors (besides those of [every call](#errors)):")
        w("")
        w("| status code | reason | meaning |")
        w("|---|---|---|")
        for r in errors:
            w(f"| {r.code} | `{r.name}` | {cell(first_sentence(r.meaning))} |")
        w("")
    w("Example request" + (" (first message of the stream)" if p.client_streaming else "") + ":")
    w("")
    w("```json")
    w(json.dumps(example(p.input_type, c), indent=2))
    w("```")
    w("")


def render_errors(w: Any, known: dict[str, Reason]) -> None:
    w("## Errors")
    w("")
    w("Every error carries a `google.rpc.ErrorInfo` (domain `stowage`) whose `reason` is one of")
    w("the names below; clients match on the reason, not on the message. Failed preconditions")
    w("add a `google.rpc.PreconditionFailure`, malformed requests a `google.rpc.BadRequest`.")
    w("Any call may fail with `INVALID_ARGUMENT` (a malformed field), `INTERNAL` (a bug) or,")
    w("without a reason, `UNAVAILABLE` (the server cannot be reached: retry reads, and writes")
    w("that carry a `request_id`).")
    w("")
    w("| reason | status code | meaning |")
    w("|---|---|---|")
    for r in known.values():
        w(f"| `{r.name}` | {r.code} | {cell(r.meaning)} |")
    w("")


def render_message(w: Any, m: Message, c: Contract) -> None:
    w(f"### {short(m.full_name)}")
    w("")
    w(m.comment)
    w("")
    if not m.proto.field:
        w("No fields.")
        w("")
        return
    w("| field | type | meaning |")
    w("|---|---|---|")
    for f, comment in zip(m.proto.field, m.field_comments, strict=True):
        w(f"| `{f.name}` | {type_text(f, c)} | {cell(comment)} |")
    w("")


def render_enum(w: Any, e: Enum) -> None:
    w(f"### {short(e.full_name)}")
    w("")
    w(e.comment)
    w("")
    w("| value | number | meaning |")
    w("|---|---|---|")
    for v, comment in zip(e.proto.value, e.value_comments, strict=True):
        w(f"| `{v.name}` | {v.number} | {cell(comment)} |")
    w("")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["gen", "check"])
    parser.add_argument("--out", type=Path, default=DOCS)
    args = parser.parse_args(argv)
    text = render(read_contract(descriptor_set()))
    if args.command == "gen":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        return 0
    current = args.out.read_text() if args.out.exists() else ""
    if current == text:
        return 0
    print(f"{args.out} is stale; run: python scripts/apidocs.py gen", file=sys.stderr)
    diff = difflib.unified_diff(
        current.splitlines(), text.splitlines(), "committed", "generated", lineterm="", n=1
    )
    for line in list(diff)[:40]:
        print(f"  {line}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

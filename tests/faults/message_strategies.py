"""Hypothesis strategies for any protobuf message, built from its descriptor.

Every field may be set or not; strings come from a pool of names that mean
something to the server (real environments, backups, operations), hostile
variants of them (``..`` segments, absolute paths, NUL, very long, other
scripts) and arbitrary text; integers include their type's limits; enums
include values the contract does not define; nested messages go a few levels
deep; repeated and map fields hold a few entries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

F = FieldDescriptor
MAX_DEPTH = 3
UNSET = object()

_INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
}

# Segments and whole values that have broken path handling elsewhere.
HOSTILE = (
    "",
    ".",
    "..",
    "../..",
    "../../../../etc/passwd",
    "/etc/passwd",
    "~",
    "%2e%2e",
    "..%2f..",
    "a/../../b",
    "\x00",
    "a\x00b",
    "\\..\\..",
    "CON",
    " ",
    "-",
    "*",
    "\u202e\u0645\u0631\u062d\u0628\u0627",
    "\U0001f4a3",
    "x" * 300,
    "y" * 5000,
)


def hostile_variants(name: str) -> list[str]:
    """``name`` with each segment in turn replaced by each hostile value."""
    parts = name.split("/")
    out = []
    for i in range(len(parts)):
        for bad in ("..", ".", "", "%2e%2e", "a/../../b", "\x00", "X" * 200):
            out.append("/".join(parts[:i] + [bad] + parts[i + 1 :]))
    out.append(name + "/..")
    out.append("../" + name)
    out.append(name.upper())
    return out


# Which resource a request's names are about, from words in its message name.
_RESOURCES = (
    ("Operation", "operation"),
    ("Backup", "backup"),
    ("Restore", "backup"),
    ("Copy", "backup"),
    ("Artifact", "artifact"),
    ("Import", "artifact"),
    ("Export", "artifact"),
    ("ControlNumber", "agreement"),
    ("Hybrid", "hybrid"),
    ("Batch", "batch"),
)


def role_of(field_name: str, message_name: str = "") -> str:
    """What kind of string a field holds, guessed from its name (and, for
    resource names, from its message's name: ``name:backup``)."""
    if field_name in ("name", "parent", "backup", "agreement", "target", "environment"):
        for word, resource in _RESOURCES:
            if word in message_name:
                return f"name:{resource}"
        return "name:environment"
    if field_name == "request_id":
        return "request_id"
    if field_name.endswith("_id"):
        return "id"
    if "sha256" in field_name:
        return "digest"
    if "repository" in field_name:
        return "url"
    return "any"


class StringPool:
    """Strings for each role: known values of that role half the time (a request
    needs them to get past validation), hostile variants of them, hostile values
    and arbitrary text. Roles: ``name:environment``, ``name:backup``,
    ``name:operation``, ``name:artifact``, ``name:agreement``, ``name:hybrid``,
    ``name:batch``, ``id``, ``request_id``, ``digest``, ``url``."""

    def __init__(self, known: dict[str, Sequence[str]]) -> None:
        self.known = {role: sorted(set(values)) for role, values in known.items() if values}
        everything = sorted({v for values in self.known.values() for v in values})
        self.known["any"] = everything
        self._built: dict[str, st.SearchStrategy[str]] = {}

    def for_field(self, field_name: str, message_name: str = "") -> st.SearchStrategy[str]:
        role = role_of(field_name, message_name)
        if role not in self._built:
            values = list(self.known.get(role, self.known["any"]))
            if role.startswith("name:"):
                values += self.known.get("name:environment", [])
            variants = sorted({v for name in values for v in hostile_variants(name)})
            choices: list[st.SearchStrategy[str]] = [st.sampled_from(HOSTILE), st.text(max_size=40)]
            if values:
                named = st.sampled_from(values)
                choices = [named, named, named, st.sampled_from(variants), *choices]
            self._built[role] = st.one_of(choices)
        return self._built[role]


def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    edges = (lo, hi, 0, 1, -1, 2**31 - 1, 2**31, 10**6, -(10**6))
    return st.one_of(
        st.sampled_from(sorted({v for v in edges if lo <= v <= hi})), st.integers(lo, hi)
    )


class MessageStrategies:
    def __init__(self, strings: StringPool, max_bytes: int = 4096) -> None:
        self.strings = strings
        self.max_bytes = max_bytes
        self._built: dict[tuple[str, int], st.SearchStrategy[Message]] = {}

    def message(self, descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
        key = (descriptor.full_name, depth)
        if key not in self._built:
            self._built[key] = self._message(descriptor, depth)
        return self._built[key]

    def _message(self, descriptor: Descriptor, depth: int) -> st.SearchStrategy[Message]:
        cls = GetMessageClass(descriptor)
        always: dict[str, st.SearchStrategy[Any]] = {}
        optional: dict[str, st.SearchStrategy[Any]] = {}
        for f in descriptor.fields:
            if f.type == F.TYPE_MESSAGE and depth >= MAX_DEPTH:
                continue
            role = role_of(f.name, descriptor.name)
            if f.type == F.TYPE_STRING and not f.is_repeated and role.startswith(("name", "id")):
                # What the request is about: always there, so it can be found.
                always[f.name] = self.field(f, depth)
            else:
                # Mostly unset: a request with few fields set gets further in.
                optional[f.name] = st.one_of(st.just(UNSET), st.just(UNSET), self.field(f, depth))
        return st.fixed_dictionaries(always, optional=optional).map(_builder(cls, descriptor))

    def field(self, f: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
        if f.type == F.TYPE_MESSAGE and f.message_type.GetOptions().map_entry:
            key = self.scalar(f.message_type.fields_by_name["key"], depth)
            value = self.scalar(f.message_type.fields_by_name["value"], depth)
            return st.dictionaries(key, value, max_size=4)
        one = self.scalar(f, depth)
        if f.is_repeated:
            return st.lists(one, max_size=4)
        return one

    def scalar(self, f: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
        t = f.type
        if t == F.TYPE_STRING:
            return self.strings.for_field(f.name, f.containing_type.name)
        if t == F.TYPE_BYTES:
            return st.one_of(
                st.binary(max_size=64),
                st.binary(min_size=32, max_size=32),
                st.binary(max_size=self.max_bytes),
            )
        if t == F.TYPE_BOOL:
            return st.booleans()
        if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            return st.floats(width=64 if t == F.TYPE_DOUBLE else 32)
        if t == F.TYPE_ENUM:
            defined = [v.number for v in f.enum_type.values]
            return st.one_of(st.sampled_from(defined), st.integers(-3, 1000))
        if t in _INT_RANGES:
            return _integers(*_INT_RANGES[t])
        if t == F.TYPE_MESSAGE:
            return self.message(f.message_type, depth + 1)
        raise TypeError(f"field {f.full_name}: unsupported type {t}")


def _builder(cls: type[Message], descriptor: Descriptor) -> Callable[[dict[str, Any]], Message]:
    def build(values: dict[str, Any]) -> Message:
        msg = cls()
        for name, value in values.items():
            if value is UNSET:
                continue
            f = descriptor.fields_by_name[name]
            target = getattr(msg, name)
            try:
                if f.type == F.TYPE_MESSAGE and f.message_type.GetOptions().map_entry:
                    value_field = f.message_type.fields_by_name["value"]
                    for k, v in value.items():
                        if value_field.type == F.TYPE_MESSAGE:
                            target[k].CopyFrom(v)
                        else:
                            target[k] = v
                elif f.is_repeated:
                    if f.type == F.TYPE_MESSAGE:
                        for v in value:
                            target.add().CopyFrom(v)
                    else:
                        target.extend(value)
                elif f.type == F.TYPE_MESSAGE:
                    target.CopyFrom(value)
                else:
                    setattr(msg, name, value)
            except (ValueError, TypeError):
                pass  # a value the message type itself refuses (an unknown closed enum)
        return msg

    return build

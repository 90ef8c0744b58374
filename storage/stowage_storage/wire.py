"""Reading one repeated message field of a protobuf message without parsing
the message whole.

A parsed protobuf takes several times its encoded size; a manifest lists an
item per artifact and an index object an entry per blob, so both are read as
bytes and their repeated parts parsed one at a time, as they are needed.
"""

from __future__ import annotations

from array import array

from google.protobuf.message import DecodeError


def split_repeated(data: bytes, field: int) -> tuple[bytes, array[int], array[int]]:
    """The message's other fields (encoded, to parse as the message) and where
    each value of length-delimited ``field`` starts and ends in ``data``.
    Raises DecodeError, as a parse would, on bytes that are no message."""
    rest = bytearray()
    starts, ends = array("Q"), array("Q")
    pos, n = 0, len(data)
    while pos < n:
        field_start = pos
        tag, pos = _read_varint(data, pos)
        kind = tag & 7
        if kind == 0:
            _, pos = _read_varint(data, pos)
        elif kind == 1:
            pos += 8
        elif kind == 5:
            pos += 4
        elif kind == 2:
            length, pos = _read_varint(data, pos)
            if tag >> 3 == field and pos + length <= n:
                starts.append(pos)
                ends.append(pos + length)
                pos += length
                continue
            pos += length
        else:
            raise DecodeError(f"unexpected wire type {kind} at byte {field_start}")
        if pos > n:
            raise DecodeError(f"truncated field at byte {field_start}")
        rest += data[field_start:pos]
    return bytes(rest), starts, ends


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise DecodeError(f"bad varint at byte {pos}")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7

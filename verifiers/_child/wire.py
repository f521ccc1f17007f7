"""Tagged JSON for values crossing the sandbox boundary, in both directions.

Plain JSON cannot tell a tuple from a list or carry sets, bytes, NaN or non-string dict keys,
and test code cares (`assert f(x) == (4, 5)` is false for a list). So every value is encoded
as JSON primitives plus a small set of tags, and decoding builds only exact built-in types:
no class, subclass or object of the candidate's can reach the trusted side.

    >>> decode(encode((1, [2.5, "a"], {3: None})))
    (1, [2.5, 'a'], {3: None})

`encode` refuses anything that is not exactly a built-in value type (an `int` subclass, an
object with a custom `__eq__`, a generator): a candidate cannot smuggle behaviour through.
Both directions are bounded in depth and size.
"""
import json
import math

MAX_DEPTH = 64
MAX_ITEMS = 1_000_000
MAX_TEXT_BYTES = 8 * 1024 * 1024
TAG = "$"


class WireError(ValueError):
    """A value that cannot cross the boundary, or a message that is not well formed."""


def encode(value):
    """Return a JSON-able structure for `value`, built from exact built-in types only."""
    budget = [MAX_ITEMS]
    return _encode(value, 0, budget)


def _encode(value, depth, budget):
    budget[0] -= 1
    if budget[0] < 0:
        raise WireError("value too large to cross the sandbox boundary")
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        if value.bit_length() > 4096:
            raise WireError("integer too large")
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        return {TAG: "float", "v": repr(value)}
    if kind is list:
        return [_encode(item, depth + 1, budget) for item in value]
    if kind is tuple or kind is set or kind is frozenset:
        items = list(value) if kind is tuple else _sorted_if_possible(value)
        return {TAG: kind.__name__, "v": [_encode(item, depth + 1, budget) for item in items]}
    if kind is dict:
        pairs = [[_encode(k, depth + 1, budget), _encode(v, depth + 1, budget)] for k, v in value.items()]
        return {TAG: "dict", "v": pairs}
    if kind is bytes:
        return {TAG: "bytes", "v": value.hex()}
    if kind is complex:
        return {TAG: "complex", "v": [repr(value.real), repr(value.imag)]}
    raise WireError(f"cannot send a value of type {kind.__name__!r} across the sandbox boundary")


def _sorted_if_possible(items):
    try:
        return sorted(items)
    except TypeError:
        return list(items)


def decode(data):
    """Inverse of `encode`; raises WireError on anything `encode` would not produce."""
    budget = [MAX_ITEMS]
    return _decode(data, 0, budget)


def _decode(data, depth, budget):
    budget[0] -= 1
    if budget[0] < 0:
        raise WireError("value too large")
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    kind = type(data)
    if data is None or kind is bool or kind is str or kind is int:
        return data
    if kind is float:
        return data
    if kind is list:
        return [_decode(item, depth + 1, budget) for item in data]
    if kind is not dict or set(data) != {TAG, "v"}:
        raise WireError("malformed value on the wire")
    tag, payload = data[TAG], data["v"]
    if tag == "float" and payload in ("nan", "inf", "-inf"):
        return float(payload)
    if tag in ("tuple", "set", "frozenset") and type(payload) is list:
        items = [_decode(item, depth + 1, budget) for item in payload]
        try:
            return {"tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
        except TypeError as error:
            raise WireError(f"unhashable item in a {tag}") from error
    if tag == "dict" and type(payload) is list:
        result = {}
        for pair in payload:
            if type(pair) is not list or len(pair) != 2:
                raise WireError("malformed dict on the wire")
            try:
                result[_decode(pair[0], depth + 1, budget)] = _decode(pair[1], depth + 1, budget)
            except TypeError as error:
                raise WireError("unhashable dict key") from error
        return result
    if tag == "bytes" and type(payload) is str:
        try:
            return bytes.fromhex(payload)
        except ValueError as error:
            raise WireError("malformed bytes on the wire") from error
    if tag == "complex" and type(payload) is list and len(payload) == 2:
        try:
            return complex(float(payload[0]), float(payload[1]))
        except (TypeError, ValueError) as error:
            raise WireError("malformed complex on the wire") from error
    raise WireError(f"unknown tag {str(tag)[:40]!r} on the wire")


def dumps_line(message):
    """One message as one line of bytes (NaN and Infinity never appear raw)."""
    return json.dumps(message, allow_nan=False, separators=(",", ":")).encode() + b"\n"


def loads_line(line):
    """Parse one message line; only a JSON object is a message."""
    if len(line) > MAX_TEXT_BYTES:
        raise WireError("message too large")
    try:
        message = json.loads(line, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise WireError(f"malformed message: {str(error)[:80]}") from error
    if type(message) is not dict:
        raise WireError("a message must be a JSON object")
    return message


def _reject_constant(name):
    raise WireError(f"bare {name} is not allowed on the wire")

"""Tagged JSON for values crossing the sandbox boundary, in both directions.

Plain JSON cannot tell a tuple from a list or carry sets, bytes, NaN or non-string dict keys,
and test code cares (`assert f(x) == (4, 5)` is false for a list). So every value is encoded
as JSON primitives plus a small set of tags, and decoding builds only exact built-in types:
no class, subclass or object of the candidate's can reach the trusted side.

    >>> decode(encode((1, [2.5, "a"], {3: None})))
    (1, [2.5, 'a'], {3: None})

`encode` refuses anything that is not exactly a built-in value type (an `int` subclass, an
object with a custom `__eq__`, a generator): a candidate cannot smuggle behaviour through.

`decode` must stay cheap whatever bytes arrive, because the candidate can replace its own
encoder and send anything. It is bounded in depth, items and integer size; a dict or set whose
keys share one hash (`k * (2**61 - 1)` for many `k`: each insertion would probe all the others,
quadratic time in C) is refused before it is built; and given a deadline, it checks the clock
as it goes and raises `WireTimeout` once the deadline has passed.
"""
import json
import math
import time

MAX_DEPTH = 64
MAX_ITEMS = 1_000_000
MAX_TEXT_BYTES = 8 * 1024 * 1024
MAX_INT_BITS = 4096
MAX_SAME_HASH = 8  # distinct honest keys almost never share a full hash; -1 and -2 do
CLOCK_EVERY = 4096  # items decoded between two looks at the clock
TAG = "$"


class WireError(ValueError):
    """A value that cannot cross the boundary, or a message that is not well formed."""


class WireTimeout(WireError):
    """Decoding ran past its deadline."""


class _Budget:
    """Items left to build, and the deadline to build them by (None: no deadline)."""

    def __init__(self, deadline=None):
        self.items, self.deadline = MAX_ITEMS, deadline

    def spend(self):
        self.items -= 1
        if self.items < 0:
            raise WireError("value too large to cross the sandbox boundary")
        if self.items % CLOCK_EVERY == 0:
            self.check_clock()

    def check_clock(self):
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise WireTimeout("time limit reached while decoding a value")


def encode(value):
    """Return a JSON-able structure for `value`, built from exact built-in types only."""
    return _encode(value, 0, _Budget())


def _encode(value, depth, budget):
    budget.spend()
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        if value.bit_length() > MAX_INT_BITS:
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


def decode(data, deadline=None):
    """Inverse of `encode`; raises WireError on anything `encode` would not produce.

    `deadline` is a `time.monotonic()` value; past it, decoding stops with `WireTimeout`.
    """
    return _decode(data, 0, _Budget(deadline))


def _decode(data, depth, budget):
    budget.spend()
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    kind = type(data)
    if data is None or kind is bool or kind is str or kind is float:
        return data
    if kind is int:
        if data.bit_length() > MAX_INT_BITS:
            raise WireError("integer too large")
        return data
    if kind is list:
        return [_decode(item, depth + 1, budget) for item in data]
    if kind is not dict or len(data) != 2 or set(data) != {TAG, "v"}:
        raise WireError("malformed value on the wire")
    tag, payload = data[TAG], data["v"]
    if tag == "float" and payload in ("nan", "inf", "-inf"):
        return float(payload)
    if tag == "tuple" and type(payload) is list:
        return tuple(_decode(item, depth + 1, budget) for item in payload)
    if tag in ("set", "frozenset") and type(payload) is list:
        items = [_decode(item, depth + 1, budget) for item in payload]
        _check_hashes(items, tag, budget)
        return set(items) if tag == "set" else frozenset(items)
    if tag == "dict" and type(payload) is list:
        pairs = []
        for pair in payload:
            if type(pair) is not list or len(pair) != 2:
                raise WireError("malformed dict on the wire")
            pairs.append((_decode(pair[0], depth + 1, budget), _decode(pair[1], depth + 1, budget)))
        _check_hashes([key for key, _ in pairs], "dict", budget)
        return dict(pairs)
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


def _check_hashes(keys, tag, budget):
    """Refuse keys that would make building the dict or set quadratic: too many share one hash.

    The counts are kept in a dict keyed by the hash values themselves, which is safe: a hash
    value is an int below 2**61 - 1 in size, and such an int hashes to itself, so distinct
    hash values never collide in full there.
    """
    counts = {}
    for index, key in enumerate(keys):
        if index % CLOCK_EVERY == 0:
            budget.check_clock()
        try:
            value = hash(key)
        except TypeError as error:
            raise WireError(f"unhashable item in a {tag}") from error
        count = counts.get(value, 0) + 1
        if count > MAX_SAME_HASH:
            raise WireError(f"more than {MAX_SAME_HASH} items of a {tag} share one hash")
        counts[value] = count


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

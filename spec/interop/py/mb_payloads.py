"""Payloads for the fidelity tests and a type-strict deep comparison."""
import math


def same(a, b):
    """Deep equality that also compares types (True != 1, 1 != 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


PAYLOADS = {
    "ints": ([0, 1, -1, 2 ** 31, 2 ** 32 + 1, 2 ** 53, -(2 ** 53), 2 ** 53 - 1], {"big": 2 ** 53}),
    "negative_ints": ([-7, -(2 ** 31), -(2 ** 53)], {"n": -42}),
    "floats": ([0.1, -2.5, 1e-300, 1.7976931348623157e308, 2.0, -0.0, 123456.789],
               {"pi": 3.141592653589793}),
    "unicode": (["😀", "中文字符", "ß é ñ ü", "\u2028\u2029", "a\"b\\c\n\t", "𝄞 music"],
                {"emoji": "🎉🚀", "cjk": "日本語", "ключ": "значение"}),
    "nested": ([{"a": [1, {"b": [None, True, False, {"c": {}}]}]}, [[[]]]],
               {"deep": {"l": [{"x": [1, [2, [3]]]}], "n": None}}),
    "empty_list_vs_empty_dict": ([[], {}], {"l": [], "d": {}}),
    "bools_and_null": ([True, False, None, 1, 0], {"yes": True, "no": False, "none": None}),
}


# ---------------------------------------------------------------- serializer matrix

def exact(a, b):
    """same(), and floats to the bit: -0.0 is not 0.0 (bytes are compared as bytes)."""
    return difference(a, b) is None


def difference(got, want, path="$"):
    """None when `got` is `want` type-strictly (floats by sign too), else a text naming the
    first place they differ ("$[2]['k']: got int 1, want float 1.0")."""
    if type(got) is not type(want):
        return "%s: got %s %s, want %s %s" % (path, type(got).__name__, _short(got),
                                              type(want).__name__, _short(want))
    if isinstance(want, dict):
        if got.keys() != want.keys():
            return "%s: keys %s, want %s" % (path, sorted(got), sorted(want))
        for k in want:
            d = difference(got[k], want[k], "%s[%r]" % (path, k))
            if d:
                return d
        return None
    if isinstance(want, list):
        if len(got) != len(want):
            return "%s: %d items, want %d: %s" % (path, len(got), len(want), _short(got))
        for i, (x, y) in enumerate(zip(got, want)):
            d = difference(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    if isinstance(want, float):
        if math.isnan(want):
            return None if math.isnan(got) else "%s: got %r, want nan" % (path, got)
        if got != want or math.copysign(1.0, got) != math.copysign(1.0, want):
            return "%s: got %r, want %r" % (path, got, want)
        return None
    if got != want:
        return "%s: got %s, want %s" % (path, _short(got), _short(want))
    return None


def _short(v):
    r = repr(v)
    return r if len(r) <= 120 else r[:117] + "..."


def _deep(n):
    v = "bottom"
    for i in range(n):
        v = [v] if i % 2 else {"k%d" % i: v}
    return v


INT_EDGES = [0, 1, -1, 2 ** 31, -(2 ** 31), 2 ** 32 + 1, 2 ** 53, -(2 ** 53), 2 ** 63 - 1, -(2 ** 63)]
FLOAT_EDGES = [0.0, -0.0, 1e-300, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 2.0,
               0.1, -2.5, 123456.789, 2.0 ** 53, 1e16]
UNICODE = ["😀", "中文字符", "日本語のテキスト", "\u2028\u2029", "", "a\"b\\c\n\t\r", "𝄞 music",
           "\u0001\u001f\u007f", "ß é ñ ü", "\ufeffBOM", "\uffff"]
BINARY = [b"", b"\x00", b"\xff", b"ab", b"abc", b"\x00\x01\x02\xfe\xff", bytes(range(256)),
          b"\xc1\xff\xfe \x00 not utf-8"]

# name -> (Arguments, ArgumentsKw). Every serializer carries these (JSON: binary as "\0" +
# base64, which autobahn-python's JSON serializer writes and reads back as bytes; integers
# beyond 2^53 are exact between Python clients, which read JSON integers exactly).
SER_PAYLOADS = {
    "ints": (list(INT_EDGES), {"max": 2 ** 63 - 1, "min": -(2 ** 63), "zero": 0, "p53": 2 ** 53}),
    "floats": (list(FLOAT_EDGES), {"negzero": -0.0, "tiny": 1e-300, "huge": 1.7976931348623157e308,
                                   "two": 2.0}),
    "unicode": (list(UNICODE), {"emoji": "🎉🚀", "cjk": "日本語", "ключ": "значение",
                                "sep": "\u2028", "key with spaces": "v", "": "empty key"}),
    "binary": (list(BINARY), {"blob": bytes(range(255, -1, -1)), "empty": b"",
                              "nested": {"list": [b"\x00\x01", [b"\xff"]]}}),
    "empty_list_vs_empty_dict": ([[], {}, [[]], [{}], {"l": [], "d": {}}],
                                 {"l": [], "d": {}, "ld": [{}], "dl": {"x": []}}),
    "nested": ([_deep(40), {"a": [1, {"b": [None, True, False, {"c": {}}]}]}, [[[[[]]]]]],
               {"deep": _deep(30), "mixed": {"i": 1, "f": 1.0, "s": "1", "b": b"1", "n": None,
                                             "t": True, "l": [1, 1.0, "1", b"1", None, False]}}),
    "null_and_bools": ([None, True, False, [None], {"n": None}], {"none": None, "yes": True,
                                                                 "no": False}),
    "kwargs_only": ([], {"only": "kwargs", "n": 1, "b": b"\x00"}),
    "no_payload": ([], {}),
}

# Only between MessagePack and CBOR sessions: integers JSON cannot carry exactly (2^64 - 1,
# and the unsigned ones above 2^63 - 1).
BINARY_ONLY_PAYLOADS = {
    "uint64": ([2 ** 64 - 1, 2 ** 63, 2 ** 63 + 1, -(2 ** 63), 2 ** 64 - 2],
               {"u64max": 2 ** 64 - 1, "i64min": -(2 ** 63), "list": [2 ** 64 - 1, 0]}),
}

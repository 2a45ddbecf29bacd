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

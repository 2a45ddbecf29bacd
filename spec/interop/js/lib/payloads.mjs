// Payloads shared by the interop tests.

// Values chosen to trip up a router that re-encodes payloads: the largest safe integers,
// floats, unicode outside the BMP, JSON escapes, empty and nested lists and dicts.
export const FIDELITY_ARGS = [
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  0,
  -1,
  1.5,
  0.1,
  -2.5e-8,
  1e300,
  'ünïcødé ✓ 🌙 中文 العربية',
  '',
  'quote " backslash \\ slash / newline \n tab \t cr \r bell \u0007 del \u007f',
  true,
  false,
  null,
  [],
  {},
  [[], {}],
  [[[[[]]]]],
  { a: [], b: {}, c: { d: [1, { e: 'f', g: [] }] } },
];
export const FIDELITY_KWARGS = {
  big: Number.MAX_SAFE_INTEGER,
  neg: -Number.MAX_SAFE_INTEGER,
  emoji: '🌙🚀',
  'ключ': 'значение',
  'key with spaces': 1,
  empty_list: [],
  empty_dict: {},
  list_of_empties: [[], {}, '', 0, null, false],
  nested: { level1: { level2: { level3: [1, 2, { level4: 'deep' }] } } },
};

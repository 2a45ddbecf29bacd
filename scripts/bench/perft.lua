-- Perft benchmark of the chess rules (lua/apps/games/chess_rules.lua, chess_movegen.lua).
--
--   lua5.4 scripts/bench/perft.lua [depth] [kiwipete_depth]
--
-- Counts the leaf nodes of the start position to depth (default 5: 4 865 609 nodes) and of
-- kiwipete to kiwipete_depth (default depth - 1: 4 085 603 nodes at 4), one core, CPU time
-- (os.clock), and prints per position one line
--   BENCH perft_<name> depth=D nodes=N seconds=S nps=R check=ok|MISMATCH|unknown
-- then "BENCH perft_total ...". Exits 1 when a count differs from the published one.
-- The target is >= 1 000 000 nodes/s (bulk counting at the last ply).

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../../lua/apps/games/?.lua;" .. package.path
local C = require("chess_rules")

local depth = math.tointeger(tonumber(arg and arg[1] or "5")) or 5
local kdepth = math.tointeger(tonumber(arg and arg[2] or "")) or math.max(1, depth - 1)

local KNOWN = {
  start = { 20, 400, 8902, 197281, 4865609, 119060324 },
  kiwipete = { 48, 2039, 97862, 4085603, 193690690 },
}
local RUNS = {
  { "start", C.START_FEN, depth },
  { "kiwipete", "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1", kdepth },
}

local bad, tn, tt = false, 0, 0
for _, r in ipairs(RUNS) do
  local name, fen, d = r[1], r[2], r[3]
  local t0 = os.clock()
  local nodes = assert(C.perft(fen, d))
  local s = os.clock() - t0
  local want = KNOWN[name][d]
  local check = want == nil and "unknown" or (want == nodes and "ok" or "MISMATCH")
  if check == "MISMATCH" then bad = true end
  tn, tt = tn + nodes, tt + s
  print(string.format("BENCH perft_%s depth=%d nodes=%d seconds=%.3f nps=%.0f check=%s%s",
    name, d, nodes, s, nodes / math.max(s, 1e-9), check,
    check == "MISMATCH" and (" want=" .. want) or ""))
end
print(string.format("BENCH perft_total nodes=%d seconds=%.3f nps=%.0f", tn, tt, tn / math.max(tt, 1e-9)))
if bad then os.exit(1) end

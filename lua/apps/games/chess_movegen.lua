-- chess_movegen: the board, legal move generation, make/unmake and perft of chess_rules.lua.
--
-- Pure Lua 5.4 (base, table, string, math only): runs in moonbar's sandbox and under busted.
-- Nothing here is saved: chess_rules rebuilds a position from a FEN whenever it needs one.
--
-- Board: a 10x12 mailbox, an array b[0..120]; the 64 squares are 21 + file + 10 * rank
-- (a1 = 21, h1 = 28, a8 = 91, h8 = 98), every other index holds OFF (the border is two rows
-- deep above and below, one column left and right, so that knight jumps stay inside).
-- Pieces: white pawn..king = 1..6 (P N B R Q K), black = 9..14 (the same + 8), empty 0, OFF 7.
-- A side is 0 (white) or 8 (black): a side's piece of type t is t + side.
--
-- Move: an integer from | to << 7 | promo << 14 | flag << 18, promo a piece type (2..5) or 0,
-- flag 0 (plain), 1 (double pawn push), 2 (en passant capture), 3 (castling: the king's move).
--
-- A position (what chess_rules caches) is the table
--   { b = board, stm = 0|8, castle = bits (1 K, 2 Q, 4 k, 8 q), ep = square|0, half, full,
--     kw = white king square, kb = black king square }
--
-- gen(b, stm, castle, ep, ks, list) writes the LEGAL moves of the side stm (king on ks) into
-- list[1..n] and returns n. It finds checkers and pinned pieces from the king first: a pinned
-- piece moves along its pin line only, in check the non-king moves must capture the checker or
-- block its line, in double check only the king moves; king moves and castling squares are
-- tested against attacks with the king lifted off the board; en passant (rare) is tested by
-- making it, which covers the pin along the king's rank with both pawns on it.

local M = {}

local OFF = 7
M.OFF = OFF

local SQ64 = {}
for r = 0, 7 do
  for f = 0, 7 do SQ64[#SQ64 + 1] = 21 + f + 10 * r end
end
M.SQ64 = SQ64

-- castle rights kept when a move touches a square (from or to)
local CM = {}
for i = 0, 120 do CM[i] = 15 end
CM[25], CM[28], CM[21] = 12, 14, 13 -- e1, h1, a1
CM[95], CM[98], CM[91] = 3, 11, 7 -- e8, h8, a8
M.CASTLE_MASK = CM

local KN = { 8, -8, 12, -12, 19, -19, 21, -21 }
local KD = { 1, -1, 10, -10, 9, -9, 11, -11 } -- 1..4 orthogonal, 5..8 diagonal
M.KNIGHT_DIRS, M.KING_DIRS = KN, KD

-- scratch of gen: pin[s] = the pin direction of a pinned piece on s (0: not pinned), blk[s] =
-- stamp when s captures the single checker or blocks its line
local pin, blk, pinl = {}, {}, {}
for i = 0, 120 do pin[i] = 0; blk[i] = 0 end
local stamp = 0

function M.new_board()
  local b = {}
  for i = 0, 120 do b[i] = OFF end
  for i = 1, 64 do b[SQ64[i]] = 0 end
  return b
end

-- Is square s attacked by side them (0|8)?
local function attacked(b, s, them)
  if them == 0 then
    if b[s - 9] == 1 or b[s - 11] == 1 then return true end
  else
    if b[s + 9] == 9 or b[s + 11] == 9 then return true end
  end
  local x = them + 2
  if b[s + 8] == x or b[s - 8] == x or b[s + 12] == x or b[s - 12] == x or b[s + 19] == x
    or b[s - 19] == x or b[s + 21] == x or b[s - 21] == x then return true end
  x = them + 6
  if b[s + 1] == x or b[s - 1] == x or b[s + 10] == x or b[s - 10] == x or b[s + 9] == x
    or b[s - 9] == x or b[s + 11] == x or b[s - 11] == x then return true end
  local r, q = them + 4, them + 5
  local t = s + 1
  local p = b[t]
  while p == 0 do t = t + 1; p = b[t] end
  if p == r or p == q then return true end
  t = s - 1; p = b[t]
  while p == 0 do t = t - 1; p = b[t] end
  if p == r or p == q then return true end
  t = s + 10; p = b[t]
  while p == 0 do t = t + 10; p = b[t] end
  if p == r or p == q then return true end
  t = s - 10; p = b[t]
  while p == 0 do t = t - 10; p = b[t] end
  if p == r or p == q then return true end
  r = them + 3
  t = s + 9; p = b[t]
  while p == 0 do t = t + 9; p = b[t] end
  if p == r or p == q then return true end
  t = s - 9; p = b[t]
  while p == 0 do t = t - 9; p = b[t] end
  if p == r or p == q then return true end
  t = s + 11; p = b[t]
  while p == 0 do t = t + 11; p = b[t] end
  if p == r or p == q then return true end
  t = s - 11; p = b[t]
  while p == 0 do t = t - 11; p = b[t] end
  if p == r or p == q then return true end
  return false
end
M.attacked = attacked

-- The squares of the pieces of side them attacking s (a new list; not for perft).
function M.attackers(b, s, them)
  local out = {}
  local pawn = them + 1
  local pd = them == 0 and { -9, -11 } or { 9, 11 }
  for i = 1, 2 do
    if b[s + pd[i]] == pawn then out[#out + 1] = s + pd[i] end
  end
  for i = 1, 8 do
    if b[s + KN[i]] == them + 2 then out[#out + 1] = s + KN[i] end
    if b[s + KD[i]] == them + 6 then out[#out + 1] = s + KD[i] end
  end
  for i = 1, 8 do
    local d = KD[i]
    local t = s + d
    local p = b[t]
    while p == 0 do t = t + d; p = b[t] end
    if p == them + 5 or p == (i <= 4 and them + 4 or them + 3) then out[#out + 1] = t end
  end
  return out
end

local function gen(b, stm, castle, ep, ks, list)
  local them = 8 - stm
  local olo, ohi, elo, ehi = stm + 1, stm + 6, them + 1, them + 6
  local eB, eR, eQ = them + 3, them + 4, them + 5
  local nchk, chk, chkd, npin = 0, 0, 0, 0

  -- sliders checking the king, and the pieces pinned to it
  for i = 1, 8 do
    local d = KD[i]
    local s = ks + d
    local p = b[s]
    while p == 0 do s = s + d; p = b[s] end
    local sl = i <= 4 and eR or eB
    if p == sl or p == eQ then
      nchk = nchk + 1; chk = s; chkd = d
    elseif p >= olo and p <= ohi then
      local s2 = s + d
      local p2 = b[s2]
      while p2 == 0 do s2 = s2 + d; p2 = b[s2] end
      if p2 == sl or p2 == eQ then
        npin = npin + 1; pinl[npin] = s; pin[s] = d
      end
    end
  end
  local x = them + 2
  for i = 1, 8 do
    local s = ks + KN[i]
    if b[s] == x then nchk = nchk + 1; chk = s; chkd = 0 end
  end
  local fwd, r2lo, r2hi
  if stm == 0 then
    fwd, r2lo, r2hi = 10, 31, 38
    if b[ks + 9] == 9 then nchk = nchk + 1; chk = ks + 9; chkd = 0 end
    if b[ks + 11] == 9 then nchk = nchk + 1; chk = ks + 11; chkd = 0 end
  else
    fwd, r2lo, r2hi = -10, 81, 88
    if b[ks - 9] == 1 then nchk = nchk + 1; chk = ks - 9; chkd = 0 end
    if b[ks - 11] == 1 then nchk = nchk + 1; chk = ks - 11; chkd = 0 end
  end

  local n = 0
  if nchk < 2 then
    for i = 1, 64 do
      local s = SQ64[i]
      local p = b[s]
      if p >= olo and p <= ohi then
        local t = p - stm
        local pd = pin[s]
        if t == 1 then
          local to = s + fwd
          if b[to] == 0 and (pd == 0 or pd == fwd or pd == -fwd) then
            local m = s | (to << 7)
            if to > 90 or to < 29 then
              n = n + 4
              list[n - 3] = m | 81920; list[n - 2] = m | 65536
              list[n - 1] = m | 49152; list[n] = m | 32768
            else
              n = n + 1; list[n] = m
              if s >= r2lo and s <= r2hi then
                to = to + fwd
                if b[to] == 0 then n = n + 1; list[n] = s | (to << 7) | 262144 end
              end
            end
          end
          local d = fwd - 1
          to = s + d
          local q = b[to]
          if q >= elo and q <= ehi and (pd == 0 or pd == d or pd == -d) then
            local m = s | (to << 7)
            if to > 90 or to < 29 then
              n = n + 4
              list[n - 3] = m | 81920; list[n - 2] = m | 65536
              list[n - 1] = m | 49152; list[n] = m | 32768
            else
              n = n + 1; list[n] = m
            end
          end
          d = fwd + 1
          to = s + d
          q = b[to]
          if q >= elo and q <= ehi and (pd == 0 or pd == d or pd == -d) then
            local m = s | (to << 7)
            if to > 90 or to < 29 then
              n = n + 4
              list[n - 3] = m | 81920; list[n - 2] = m | 65536
              list[n - 1] = m | 49152; list[n] = m | 32768
            else
              n = n + 1; list[n] = m
            end
          end
        elseif t == 2 then
          if pd == 0 then
            for k = 1, 8 do
              local to = s + KN[k]
              local q = b[to]
              if q == 0 or (q >= elo and q <= ehi) then n = n + 1; list[n] = s | (to << 7) end
            end
          end
        elseif t ~= 6 then
          local k1, k2 = 1, 8
          if t == 3 then k1 = 5 elseif t == 4 then k2 = 4 end
          for k = k1, k2 do
            local d = KD[k]
            if pd == 0 or pd == d or pd == -d then
              local to = s + d
              local q = b[to]
              while q == 0 do
                n = n + 1; list[n] = s | (to << 7)
                to = to + d; q = b[to]
              end
              if q >= elo and q <= ehi then n = n + 1; list[n] = s | (to << 7) end
            end
          end
        end
      end
    end

    if nchk == 1 then -- keep the moves that capture the checker or block its line
      stamp = stamp + 1
      local st = stamp
      blk[chk] = st
      if chkd ~= 0 then
        local s = ks + chkd
        while s ~= chk do blk[s] = st; s = s + chkd end
      end
      local j = 0
      for i = 1, n do
        local m = list[i]
        if blk[(m >> 7) & 127] == st then j = j + 1; list[j] = m end
      end
      n = j
    end

    if ep ~= 0 then
      local cs = ep - fwd
      local mine = stm + 1
      if b[cs] == them + 1 then
        for s = cs - 1, cs + 1, 2 do
          if b[s] == mine then
            b[s] = 0; b[cs] = 0; b[ep] = mine
            local ok = not attacked(b, ks, them)
            b[s] = mine; b[cs] = them + 1; b[ep] = 0
            if ok then n = n + 1; list[n] = s | (ep << 7) | 524288 end
          end
        end
      end
    end
  end
  for i = 1, npin do pin[pinl[i]] = 0 end

  -- king moves, with the king lifted off (a slider's line goes on through its square)
  b[ks] = 0
  for i = 1, 8 do
    local to = ks + KD[i]
    local q = b[to]
    if (q == 0 or (q >= elo and q <= ehi)) and not attacked(b, to, them) then
      n = n + 1; list[n] = ks | (to << 7)
    end
  end
  b[ks] = stm + 6

  if nchk == 0 and castle ~= 0 then
    if stm == 0 then
      if castle & 1 ~= 0 and b[26] == 0 and b[27] == 0 and b[28] == 4
        and not attacked(b, 26, 8) and not attacked(b, 27, 8) then
        n = n + 1; list[n] = 25 | (27 << 7) | 786432
      end
      if castle & 2 ~= 0 and b[24] == 0 and b[23] == 0 and b[22] == 0 and b[21] == 4
        and not attacked(b, 24, 8) and not attacked(b, 23, 8) then
        n = n + 1; list[n] = 25 | (23 << 7) | 786432
      end
    else
      if castle & 4 ~= 0 and b[96] == 0 and b[97] == 0 and b[98] == 12
        and not attacked(b, 96, 0) and not attacked(b, 97, 0) then
        n = n + 1; list[n] = 95 | (97 << 7) | 786432
      end
      if castle & 8 ~= 0 and b[94] == 0 and b[93] == 0 and b[92] == 0 and b[91] == 12
        and not attacked(b, 94, 0) and not attacked(b, 93, 0) then
        n = n + 1; list[n] = 95 | (93 << 7) | 786432
      end
    end
  end
  return n
end
M.gen = gen

-- Legal moves of a position into list; returns n.
function M.legal(pos, list)
  return gen(pos.b, pos.stm, pos.castle, pos.ep, pos.stm == 0 and pos.kw or pos.kb, list)
end

function M.in_check(pos)
  return attacked(pos.b, pos.stm == 0 and pos.kw or pos.kb, 8 - pos.stm)
end

-- Plays the legal move m on pos (in place).
function M.make(pos, m)
  local b, stm = pos.b, pos.stm
  local from, to = m & 127, (m >> 7) & 127
  local promo, flag = (m >> 14) & 15, m >> 18
  local p, cap = b[from], b[to]
  b[from] = 0
  b[to] = promo ~= 0 and promo + stm or p
  if flag == 2 then
    local cs = stm == 0 and to - 10 or to + 10
    cap = b[cs]; b[cs] = 0
  elseif flag == 3 then
    if to == 27 then b[28] = 0; b[26] = 4
    elseif to == 23 then b[21] = 0; b[24] = 4
    elseif to == 97 then b[98] = 0; b[96] = 12
    else b[91] = 0; b[94] = 12 end
  end
  if p == stm + 6 then
    if stm == 0 then pos.kw = to else pos.kb = to end
  end
  pos.castle = pos.castle & CM[from] & CM[to]
  pos.ep = flag == 1 and (from + to) // 2 or 0
  if p == stm + 1 or cap ~= 0 then pos.half = 0 else pos.half = pos.half + 1 end
  if stm == 8 then pos.full = pos.full + 1 end
  pos.stm = 8 - stm
end

function M.copy(pos)
  local b, c = pos.b, {}
  for i = 0, 120 do c[i] = b[i] end
  return { b = c, stm = pos.stm, castle = pos.castle, ep = pos.ep, half = pos.half,
           full = pos.full, kw = pos.kw, kb = pos.kb }
end

-- perft: make/unmake on the board, one preallocated move list per ply, bulk counting at the
-- last ply.
local lists = {}

local function perft_rec(b, stm, castle, ep, kw, kb, depth, ply)
  local list = lists[ply]
  if not list then list = {}; lists[ply] = list end
  local ks = stm == 0 and kw or kb
  local n = gen(b, stm, castle, ep, ks, list)
  if depth == 1 then return n end
  local them = 8 - stm
  local total = 0
  local d1, p1 = depth - 1, ply + 1
  for i = 1, n do
    local m = list[i]
    local from, to = m & 127, (m >> 7) & 127
    local p, cap = b[from], b[to]
    b[from] = 0
    local fl = m >> 14
    if fl == 0 then
      b[to] = p
      local nc = castle & CM[from] & CM[to]
      if from == ks then
        if stm == 0 then total = total + perft_rec(b, them, nc, 0, to, kb, d1, p1)
        else total = total + perft_rec(b, them, nc, 0, kw, to, d1, p1) end
      else
        total = total + perft_rec(b, them, nc, 0, kw, kb, d1, p1)
      end
      b[from] = p; b[to] = cap
    else
      local flag = fl >> 4
      local promo = fl & 15
      b[to] = promo ~= 0 and promo + stm or p
      local nep = 0
      local nkw, nkb = kw, kb
      if flag == 1 then
        nep = (from + to) >> 1
      elseif flag == 2 then
        b[stm == 0 and to - 10 or to + 10] = 0
      elseif flag == 3 then
        if to == 27 then b[28] = 0; b[26] = 4; nkw = 27
        elseif to == 23 then b[21] = 0; b[24] = 4; nkw = 23
        elseif to == 97 then b[98] = 0; b[96] = 12; nkb = 97
        else b[91] = 0; b[94] = 12; nkb = 93 end
      end
      total = total + perft_rec(b, them, castle & CM[from] & CM[to], nep, nkw, nkb, d1, p1)
      b[from] = p; b[to] = cap
      if flag == 2 then
        b[stm == 0 and to - 10 or to + 10] = them + 1
      elseif flag == 3 then
        if to == 27 then b[28] = 4; b[26] = 0
        elseif to == 23 then b[21] = 4; b[24] = 0
        elseif to == 97 then b[98] = 12; b[96] = 0
        else b[91] = 12; b[94] = 0 end
      end
    end
  end
  return total
end

-- Node count of pos to depth (pos is left as it was).
function M.perft(pos, depth)
  if depth <= 0 then return 1 end
  local p = M.copy(pos)
  return perft_rec(p.b, p.stm, p.castle, p.ep, p.kw, p.kb, depth, 1)
end

return M

-- chess_rules: the rules of chess, as pure Lua 5.4 (moonbar's sandbox: base, table, string,
-- math; no globals, no io/os/debug, no moonbar API). The board, move generation and perft are
-- in chess_movegen.lua.
--
-- A game g is plain JSON-able data, saved and reloaded as it is:
--   g = { start_fen, fen (the current position), moves = {uci...}, san = {san...},
--         history = {position key...} (one per position, the start included: #moves + 1),
--         turn = "white"|"black", check = bool, status = "playing"|"finished",
--         result = nil|"1-0"|"0-1"|"1/2-1/2",
--         reason = nil|"checkmate"|"stalemate"|"insufficient_material"|"threefold"|"fifty_moves" }
-- The board of g.fen is cached in a weak-keyed side table (keyed by g, checked against g.fen),
-- so a reloaded or copied g is rebuilt from its fen the first time it is used.
--
-- API
--   C.START_FEN
--   C.new(fen) -> g | nil, err            fen optional (the start position); err says what is
--                                         wrong with the FEN. A FEN whose position is already
--                                         over (mate, stalemate, dead, halfmove clock >= 100)
--                                         gives a finished g.
--   C.move(g, uci) -> res | nil, err, why res = { uci, san, fen, status, result, reason, check }
--       err "illegal_move" (why: "<uci>: no piece on e3", "<uci>: castling through check", ...),
--       "game_over" (g is finished), "invalid_state" (g.fen cannot be read). On an error g is
--       unchanged.
--   C.legal_moves(g) -> sorted list of the UCI moves C.move accepts now ({} once finished)
--   C.is_legal(g, uci) -> bool
--   C.san_of(g, uci) -> san | nil, err, why        (without playing it)
--   C.uci_of(g, san) -> uci | nil, err, why        a SAN move (suffixes +#!? optional, 0-0,
--                                                  e8Q for e8=Q)
--   C.replay(moves, start_fen) -> g | nil, err, why   plays a list of UCI moves
--   C.pgn(g, tags) -> PGN text: the Seven Tag Roster (tags.Event ... defaults "?",
--       "????.??.??"; Result: g.result once finished, else tags.Result, else "*"), then the other
--       tags (names of letters, digits, _) and SetUp/FEN (start_fen not the standard one) in
--       ASCII order, a blank line, SAN movetext ("N..." when black moves first) wrapped at 79
--       columns, the result, "\n".
--   C.can_mate(g, "white"|"black") -> bool
--   C.insufficient_material(g) -> bool
--   C.perft(fen_or_g, depth) -> nodes | nil, err
--   C.piece_count(g) -> { white = {p=,n=,b=,r=,q=,k=}, black = {...} }
--   C.material(g) -> { white = points, black = points }   (P 1, N 3, B 3, R 5, Q 9)
--   C.validate_fen(fen) -> true | nil, err
--   C.in_check(g), C.fen(g)
--
-- Choices where the rules leave room:
--   * threefold repetition and the fifty-move rule end the game by themselves (no claim):
--     threefold when the position (placement, side to move, castling rights, and the en passant
--     square only when an en passant capture is legal) occurs for the third time in g.history;
--     fifty moves when the halfmove clock reaches 100. Checkmate and stalemate take precedence;
--     then insufficient material, threefold, fifty moves.
--   * insufficient material: no pawn, rook or queen, and either at most one minor piece in all,
--     or only bishops that all stand on squares of one colour (K v K, K+B v K, K+N v K,
--     K+B(s) v K+B(s) all on one colour). K+N+N v K, K+B v K+N, K+N v K+N, bishops of both
--     colours play on.
--   * can_mate(g, side): false when the position is dead (above), or when that side has no
--     pawn, rook or queen and at most one minor piece (a lone king, K+B, K+N), whatever the
--     other side has (the usual approximation; strictly, FIDE would let K+N mate a king
--     hemmed in by its own pieces). For "loss on time is a draw if the other side cannot mate".
--   * FEN in: exactly six fields; castling rights must match the king and rook placement
--     (K: white king e1 and rook h1, ...), an impossible right is rejected, not dropped; the en
--     passant field must be '-' or a square that a double push has just passed (the pawn in
--     front, the square and the one behind empty, halfmove clock 0) and is kept even when no
--     capture is possible. Also rejected: not one king per side, pawns on ranks 1/8, more than 8
--     pawns or 16 pieces or more promoted pieces than missing pawns for a side, the side not to
--     move in check, the side to move in check by three pieces or by two on one line, or a check
--     that the last double push cannot have given.
--   * FEN out: the en passant square after every double push, as the FEN standard says.
--   * a finished game takes no move: C.move answers "game_over", legal_moves {}.
--   * UCI: lower case only; castling is the king's two-square move (e1g1); a promotion needs its
--     letter (q, r, b, n) and any other move must have none.

local MG = require("chess_movegen")

local C = {}

local START_FEN = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"
C.START_FEN = START_FEN

local gen, make, attacked = MG.gen, MG.make, MG.attacked
local SQ64 = MG.SQ64

-- Squares -------------------------------------------------------------------------------------

local NAME, SQ, FILEC, RANKC, FILE, RANK = {}, {}, {}, {}, {}, {}
for r = 0, 7 do
  for f = 0, 7 do
    local s = 21 + f + 10 * r
    FILEC[s] = string.char(97 + f)
    RANKC[s] = tostring(r + 1)
    NAME[s] = FILEC[s] .. RANKC[s]
    SQ[NAME[s]] = s
    FILE[s], RANK[s] = f, r
  end
end

-- The step from square x towards y when they share a rank, file or diagonal, else nil.
local function line_dir(x, y)
  local df, dr = FILE[y] - FILE[x], RANK[y] - RANK[x]
  if df == 0 and dr == 0 then return nil end
  if df ~= 0 and dr ~= 0 and df ~= dr and df ~= -dr then return nil end
  local sf = df > 0 and 1 or df < 0 and -1 or 0
  local sr = dr > 0 and 1 or dr < 0 and -1 or 0
  return sf + 10 * sr
end

local PIECE = { P = 1, N = 2, B = 3, R = 4, Q = 5, K = 6, p = 9, n = 10, b = 11, r = 12, q = 13, k = 14 }
local CHAR = {}
for c, p in pairs(PIECE) do CHAR[p] = c end
local LETTER = { "", "N", "B", "R", "Q", "K" } -- by type, SAN
local PROMO = { q = 5, r = 4, b = 3, n = 2 }
local PROMOC = { [5] = "q", [4] = "r", [3] = "b", [2] = "n" }
local COLOR = { [0] = "white", [8] = "black" }
local TYPE_NAME = { "pawn", "knight", "bishop", "rook", "queen", "king" }

-- FEN -----------------------------------------------------------------------------------------

local function split_fields(s)
  local out = {}
  for f in s:gmatch("%S+") do out[#out + 1] = f end
  return out
end

-- The king square of side (0|8) in pos.
local function king_of(pos, side) return side == 0 and pos.kw or pos.kb end

-- Reads and validates a FEN: pos | nil, err.
local function parse_fen(fen)
  if type(fen) ~= "string" then return nil, "a FEN is a string" end
  if #fen > 120 then return nil, "FEN too long" end
  local fields = split_fields(fen)
  if #fields ~= 6 then
    return nil, string.format("a FEN has 6 fields (placement, side to move, castling, en passant, " ..
      "halfmove clock, fullmove number), this one has %d", #fields)
  end
  local place, side, cast, eps, hm, fm = fields[1], fields[2], fields[3], fields[4], fields[5], fields[6]

  local b = MG.new_board()
  local ranks = {}
  for r in (place .. "/"):gmatch("([^/]*)/") do ranks[#ranks + 1] = r end
  if #ranks ~= 8 then return nil, string.format("the placement has %d ranks, not 8", #ranks) end
  local count = { [0] = { 0, 0, 0, 0, 0, 0 }, [8] = { 0, 0, 0, 0, 0, 0 } }
  local kings = { [0] = 0, [8] = 0 }
  for i = 1, 8 do
    local r = 8 - i -- rank index 0..7
    local f = 0
    local row = ranks[i]
    for j = 1, #row do
      local c = row:sub(j, j)
      local d = c:match("^[1-8]$")
      if d then
        f = f + tonumber(d)
      else
        local p = PIECE[c]
        if not p then return nil, string.format("bad character '%s' in rank %d", c, r + 1) end
        if f > 7 then return nil, string.format("rank %d has more than 8 squares", r + 1) end
        local s = 21 + f + 10 * r
        b[s] = p
        local side_, t = p & 8, p & 7
        count[side_][t] = count[side_][t] + 1
        if t == 6 then kings[side_] = s end
        if t == 1 and (r == 0 or r == 7) then
          return nil, string.format("a pawn on %s (pawns never stand on ranks 1 and 8)", NAME[s])
        end
        f = f + 1
      end
      if f > 8 then return nil, string.format("rank %d has more than 8 squares", r + 1) end
    end
    if f ~= 8 then return nil, string.format("rank %d has %d squares, not 8", r + 1, f) end
  end
  for _, sd in ipairs({ 0, 8 }) do
    local c = count[sd]
    if c[6] ~= 1 then return nil, string.format("%s has %d kings, not 1", COLOR[sd], c[6]) end
    if c[1] > 8 then return nil, string.format("%s has %d pawns (8 at most)", COLOR[sd], c[1]) end
    local total = c[1] + c[2] + c[3] + c[4] + c[5] + c[6]
    if total > 16 then return nil, string.format("%s has %d pieces (16 at most)", COLOR[sd], total) end
    local promoted = math.max(0, c[2] - 2) + math.max(0, c[3] - 2) + math.max(0, c[4] - 2) + math.max(0, c[5] - 1)
    if promoted > 8 - c[1] then
      return nil, string.format("%s has %d promoted pieces but only %d pawns missing", COLOR[sd], promoted, 8 - c[1])
    end
  end

  local stm
  if side == "w" then stm = 0 elseif side == "b" then stm = 8
  else return nil, string.format("the side to move is 'w' or 'b', not '%s'", side) end

  local castle = 0
  if cast ~= "-" then
    local bits = { K = 1, Q = 2, k = 4, q = 8 }
    local need = {
      K = { 25, 6, 28, 4, "the white king on e1 and a white rook on h1" },
      Q = { 25, 6, 21, 4, "the white king on e1 and a white rook on a1" },
      k = { 95, 14, 98, 12, "the black king on e8 and a black rook on h8" },
      q = { 95, 14, 91, 12, "the black king on e8 and a black rook on a8" },
    }
    for j = 1, #cast do
      local c = cast:sub(j, j)
      local bit = bits[c]
      if not bit then return nil, string.format("bad castling field '%s' (KQkq or -)", cast) end
      if castle & bit ~= 0 then return nil, string.format("castling right '%s' given twice", c) end
      local nd = need[c]
      if b[nd[1]] ~= nd[2] or b[nd[3]] ~= nd[4] then
        return nil, string.format("castling right '%s' needs %s", c, nd[5])
      end
      castle = castle | bit
    end
  end

  local half = hm:match("^%d+$") and #hm <= 6 and tonumber(hm)
  if not half then return nil, string.format("bad halfmove clock '%s'", hm) end
  local full = fm:match("^%d+$") and #fm <= 6 and tonumber(fm)
  if not full or full < 1 then return nil, string.format("bad fullmove number '%s' (1 or more)", fm) end
  half, full = math.tointeger(half), math.tointeger(full)

  local pos = { b = b, stm = stm, castle = castle, ep = 0, half = half, full = full,
                kw = kings[0], kb = kings[8] }
  local them = 8 - stm

  if attacked(b, king_of(pos, them), stm) then
    return nil, string.format("%s is in check but it is %s's turn", COLOR[them], COLOR[stm])
  end

  local ep = 0
  if eps ~= "-" then
    ep = SQ[eps] or 0
    if ep == 0 then return nil, string.format("bad en passant field '%s'", eps) end
    local want = stm == 0 and 5 or 2
    if RANK[ep] ~= want then
      return nil, string.format("en passant square %s: with %s to move it is on rank %d", eps, COLOR[stm], want + 1)
    end
    local fwd = stm == 0 and 10 or -10
    if b[ep - fwd] ~= them + 1 or b[ep] ~= 0 or b[ep + fwd] ~= 0 then
      return nil, string.format("en passant square %s: no %s pawn has just passed it", eps, COLOR[them])
    end
    if half ~= 0 then
      return nil, "en passant square set but the halfmove clock is not 0 (a pawn has just moved)"
    end
    pos.ep = ep
  end

  local ks = king_of(pos, stm)
  local chk = MG.attackers(b, ks, them)
  if #chk > 0 then
    if ep ~= 0 then
      local fwd = stm == 0 and 10 or -10
      local to, from = ep - fwd, ep + fwd
      local impossible = #chk > 1
      if not impossible and chk[1] ~= to then -- a discovered check: the pawn was in the way
        b[to], b[from] = 0, them + 1
        impossible = attacked(b, ks, them)
        b[to], b[from] = them + 1, 0
      end
      if impossible then
        return nil, "impossible check: the last double pawn push cannot have given it"
      end
    elseif #chk > 2 then
      return nil, string.format("impossible check: %s is checked by %d pieces", COLOR[stm], #chk)
    elseif #chk == 2 then
      local a, c = chk[1], chk[2]
      local d1, d2 = line_dir(ks, a), line_dir(ks, c)
      if d1 and d2 and (d1 == d2 or d1 == -d2) then
        return nil, "impossible check: two checkers on one line through the king"
      end
    end
  end
  return pos
end

local function placement(b)
  local out, n = {}, 0
  for r = 7, 0, -1 do
    local empty = 0
    for f = 0, 7 do
      local p = b[21 + f + 10 * r]
      if p == 0 then
        empty = empty + 1
      else
        if empty > 0 then n = n + 1; out[n] = tostring(empty); empty = 0 end
        n = n + 1; out[n] = CHAR[p]
      end
    end
    if empty > 0 then n = n + 1; out[n] = tostring(empty) end
    if r > 0 then n = n + 1; out[n] = "/" end
  end
  return table.concat(out)
end

local function castle_str(c)
  if c == 0 then return "-" end
  return ((c & 1 ~= 0) and "K" or "") .. ((c & 2 ~= 0) and "Q" or "") ..
         ((c & 4 ~= 0) and "k" or "") .. ((c & 8 ~= 0) and "q" or "")
end

-- FEN and repetition key of pos; list[1..n] are its legal moves (for the en passant possibility).
local function fen_and_key(pos, list, n)
  local pl = placement(pos.b)
  local side = pos.stm == 0 and "w" or "b"
  local cs = castle_str(pos.castle)
  local ep = pos.ep ~= 0 and NAME[pos.ep] or "-"
  local kep = "-"
  if pos.ep ~= 0 then
    for i = 1, n do
      if list[i] >> 18 == 2 then kep = ep; break end
    end
  end
  local fen = table.concat({ pl, side, cs, ep, tostring(pos.half), tostring(pos.full) }, " ")
  return fen, table.concat({ pl, side, cs, kep }, " ")
end

function C.validate_fen(fen)
  local pos, err = parse_fen(fen)
  if not pos then return nil, err end
  return true
end

-- The cache: g -> { fen = g.fen it was built from, pos, list, n } -------------------------------

local cache = setmetatable({}, { __mode = "k" })

local function entry(g)
  if type(g) ~= "table" then return nil, "a game is a table" end
  if type(g.moves) ~= "table" or type(g.san) ~= "table" or type(g.history) ~= "table" then
    return nil, "a game has the lists moves, san and history"
  end
  local e = cache[g]
  if e and e.fen == g.fen then return e end
  local pos, err = parse_fen(g.fen)
  if not pos then return nil, "g.fen: " .. tostring(err) end
  local list = {}
  e = { fen = g.fen, pos = pos, list = list, n = MG.legal(pos, list) }
  cache[g] = e
  return e
end

-- Material ------------------------------------------------------------------------------------

local function counts(b)
  local c = { [0] = { 0, 0, 0, 0, 0, 0 }, [8] = { 0, 0, 0, 0, 0, 0 } }
  local light, dark = 0, 0
  for i = 1, 64 do
    local s = SQ64[i]
    local p = b[s]
    if p ~= 0 then
      local sd, t = p & 8, p & 7
      c[sd][t] = c[sd][t] + 1
      if t == 3 then
        if (FILE[s] + RANK[s]) % 2 == 0 then dark = dark + 1 else light = light + 1 end
      end
    end
  end
  return c, light, dark
end

local function dead(b)
  local c, light, dark = counts(b)
  local w, k = c[0], c[8]
  if w[1] + w[4] + w[5] + k[1] + k[4] + k[5] > 0 then return false end
  local minors = w[2] + w[3] + k[2] + k[3]
  if minors <= 1 then return true end
  return w[2] + k[2] == 0 and (light == 0 or dark == 0)
end

local function side_can_mate(b, sd)
  if dead(b) then return false end
  local c = counts(b)[sd]
  return c[1] + c[4] + c[5] > 0 or c[2] + c[3] >= 2
end

-- Status of a position ------------------------------------------------------------------------

local function count_key(history, key, upto)
  local n = 0
  local last = #history
  local first = math.max(1, last - upto)
  for i = last, first, -1 do
    if history[i] == key then n = n + 1 end
  end
  return n
end

-- status, result, reason, check of pos (n legal moves) given the history ending with its key.
local function judge(pos, n, history, key)
  local check = MG.in_check(pos)
  if n == 0 then
    if check then return "finished", pos.stm == 0 and "0-1" or "1-0", "checkmate", true end
    return "finished", "1/2-1/2", "stalemate", false
  end
  if dead(pos.b) then return "finished", "1/2-1/2", "insufficient_material", check end
  if count_key(history, key, pos.half) >= 3 then return "finished", "1/2-1/2", "threefold", check end
  if pos.half >= 100 then return "finished", "1/2-1/2", "fifty_moves", check end
  return "playing", nil, nil, check
end

-- Moves ---------------------------------------------------------------------------------------

local function uci_of_move(m)
  local promo = (m >> 14) & 15
  return NAME[m & 127] .. NAME[(m >> 7) & 127] .. (promo ~= 0 and PROMOC[promo] or "")
end

-- SAN without its check suffix.
local function san_base(pos, list, n, m)
  local b = pos.b
  local from, to = m & 127, (m >> 7) & 127
  local promo, flag = (m >> 14) & 15, m >> 18
  if flag == 3 then return FILE[to] == 6 and "O-O" or "O-O-O" end
  local p = b[from]
  local t = p & 7
  local cap = b[to] ~= 0 or flag == 2
  if t == 1 then
    local s = cap and (FILEC[from] .. "x" .. NAME[to]) or NAME[to]
    if promo ~= 0 then s = s .. "=" .. LETTER[promo] end
    return s
  end
  local dis = ""
  if t ~= 6 then
    local amb, samefile, samerank = false, false, false
    for i = 1, n do
      local m2 = list[i]
      local f2 = m2 & 127
      if f2 ~= from and (m2 >> 7) & 127 == to and b[f2] == p then
        amb = true
        if FILE[f2] == FILE[from] then samefile = true end
        if RANK[f2] == RANK[from] then samerank = true end
      end
    end
    if amb then
      if not samefile then dis = FILEC[from]
      elseif not samerank then dis = RANKC[from]
      else dis = NAME[from] end
    end
  end
  return LETTER[t] .. dis .. (cap and "x" or "") .. NAME[to]
end

local function suffix(pos, n)
  if not MG.in_check(pos) then return "" end
  return n == 0 and "#" or "+"
end

-- Why a move is not legal (m not in the list) --------------------------------------------------

-- Can the piece on from reach to by its way of moving (ignoring checks)? Castling excluded.
local function pseudo(pos, from, to)
  local b, stm = pos.b, pos.stm
  local p = b[from]
  local t = p & 7
  local q = b[to]
  if q ~= 0 and (q & 8) == stm then return false, "own" end
  local d = to - from
  if t == 1 then
    local fwd = stm == 0 and 10 or -10
    if d == fwd then return q == 0 end
    if d == 2 * fwd then
      local r2 = stm == 0 and 1 or 6
      return RANK[from] == r2 and b[from + fwd] == 0 and q == 0
    end
    if d == fwd - 1 or d == fwd + 1 then return q ~= 0 or (to == pos.ep and pos.ep ~= 0) end
    return false
  elseif t == 2 then
    for i = 1, 8 do if MG.KNIGHT_DIRS[i] == d then return true end end
    return false
  elseif t == 6 then
    for i = 1, 8 do if MG.KING_DIRS[i] == d then return true end end
    return false
  end
  local u = line_dir(from, to)
  if not u then return false end
  local diag = u ~= 1 and u ~= -1 and u ~= 10 and u ~= -10
  if (t == 3 and not diag) or (t == 4 and diag) then return false end
  local s = from + u
  while s ~= to do
    if b[s] ~= 0 then return false end
    s = s + u
  end
  return true
end

-- Is the piece on s pinned to its king?
local function pinned(pos, s)
  local b, stm = pos.b, pos.stm
  local ks = king_of(pos, stm)
  local u = line_dir(ks, s)
  if not u then return false end
  local x = ks + u
  while x ~= s do
    if b[x] ~= 0 then return false end
    x = x + u
  end
  x = s + u
  local p = b[x]
  while p == 0 do x = x + u; p = b[x] end
  local them = 8 - stm
  local diag = u ~= 1 and u ~= -1 and u ~= 10 and u ~= -10
  return p == them + 5 or p == them + (diag and 3 or 4)
end

local function why_illegal(pos, uci, from, to, promo)
  local b, stm = pos.b, pos.stm
  local them = 8 - stm
  local p = b[from]
  if p == 0 then return string.format("%s: no piece on %s", uci, NAME[from]) end
  if (p & 8) ~= stm then
    return string.format("%s: the piece on %s is %s's, and it is %s's turn", uci, NAME[from], COLOR[p & 8], COLOR[stm])
  end
  if from == to then return uci .. ": not a legal move" end
  local t = p & 7
  local ks = king_of(pos, stm)
  -- castling: the king's two-square move on its home rank
  local home = stm == 0 and 25 or 95
  if t == 6 and from == home and (to == home + 2 or to == home - 2) then
    if promo ~= "" then return uci .. ": only a pawn reaching the last rank takes a promotion letter" end
    local kside = to == home + 2
    local bit = (kside and 1 or 2) << (stm == 0 and 0 or 2)
    if pos.castle & bit == 0 then
      return string.format("%s: %s has no right to castle %s", uci, COLOR[stm], kside and "king-side" or "queen-side")
    end
    local between = kside and { home + 1, home + 2 } or { home - 1, home - 2, home - 3 }
    for _, s in ipairs(between) do
      if b[s] ~= 0 then return string.format("%s: castling needs %s empty", uci, NAME[s]) end
    end
    if attacked(b, ks, them) then return uci .. ": castling out of check" end
    if attacked(b, kside and home + 1 or home - 1, them) then return uci .. ": castling through check" end
    if attacked(b, to, them) then return uci .. ": castling into check" end
    return uci .. ": not a legal move"
  end
  local ok, own = pseudo(pos, from, to)
  if not ok then
    if own then return string.format("%s: %s holds one of your own pieces", uci, NAME[to]) end
    return string.format("%s: a %s does not move so", uci, TYPE_NAME[t])
  end
  local promotes = t == 1 and (RANK[to] == 0 or RANK[to] == 7)
  if promotes and promo == "" then return uci .. ": promotion needs a piece letter (q, r, b or n)" end
  if not promotes and promo ~= "" then
    return uci .. ": only a pawn reaching the last rank takes a promotion letter"
  end
  if t == 6 then return uci .. ": king would be in check" end
  if pinned(pos, from) then return uci .. ": pinned piece" end
  return uci .. ": king would be in check"
end

-- Finds the legal move uci in entry e: m | nil, why.
local function find(e, uci)
  if type(uci) ~= "string" then return nil, "a move is a string in UCI notation (e2e4, e7e8q)" end
  local f, t, pr = uci:match("^([a-h][1-8])([a-h][1-8])([qrbn]?)$")
  if not f then
    return nil, string.format("%s: bad move syntax (UCI: from and to squares, a promotion letter: e2e4, e7e8q)", uci:sub(1, 12))
  end
  local from, to, promo = SQ[f], SQ[t], PROMO[pr] or 0
  local list = e.list
  for i = 1, e.n do
    local m = list[i]
    if m & 127 == from and (m >> 7) & 127 == to and (m >> 14) & 15 == promo then return m end
  end
  return nil, why_illegal(e.pos, uci, from, to, pr)
end

-- The API -------------------------------------------------------------------------------------

local function fill(g, pos, status, result, reason, check)
  g.turn = pos.stm == 0 and "white" or "black"
  g.check, g.status, g.result, g.reason = check, status, result, reason
end

function C.new(fen)
  if fen == nil then fen = START_FEN end
  local pos, err = parse_fen(fen)
  if not pos then return nil, err end
  local list = {}
  local n = MG.legal(pos, list)
  local f, key = fen_and_key(pos, list, n)
  local g = { start_fen = f, fen = f, moves = {}, san = {}, history = { key } }
  local status, result, reason, check = judge(pos, n, g.history, key)
  fill(g, pos, status, result, reason, check)
  cache[g] = { fen = f, pos = pos, list = list, n = n }
  return g
end

function C.move(g, uci)
  local e, err = entry(g)
  if not e then return nil, "invalid_state", err end
  if g.status == "finished" then
    return nil, "game_over", "the game is over (" .. tostring(g.reason or g.result) .. ")"
  end
  local m, why = find(e, uci)
  if not m then return nil, "illegal_move", why end
  local pos = e.pos
  local base = san_base(pos, e.list, e.n, m)
  e.fen = nil -- pos is changing: if anything below fails, the entry is rebuilt next time
  make(pos, m)
  local list = e.list
  local n = MG.legal(pos, list)
  e.n = n
  local san = base .. suffix(pos, n)
  local fen, key = fen_and_key(pos, list, n)
  local moves, sans, history = g.moves, g.san, g.history
  moves[#moves + 1] = uci
  sans[#sans + 1] = san
  history[#history + 1] = key
  local status, result, reason, check = judge(pos, n, history, key)
  g.fen = fen
  fill(g, pos, status, result, reason, check)
  e.fen = fen
  return { uci = uci, san = san, fen = fen, status = status, result = result, reason = reason, check = check }
end

function C.legal_moves(g)
  local e = entry(g)
  if not e or g.status == "finished" then return {} end
  local out = {}
  for i = 1, e.n do out[i] = uci_of_move(e.list[i]) end
  table.sort(out)
  return out
end

function C.is_legal(g, uci)
  local e = entry(g)
  if not e or g.status == "finished" then return false end
  return find(e, uci) ~= nil
end

function C.san_of(g, uci)
  local e, err = entry(g)
  if not e then return nil, "invalid_state", err end
  if g.status == "finished" then return nil, "game_over", "the game is over" end
  local m, why = find(e, uci)
  if not m then return nil, "illegal_move", why end
  local base = san_base(e.pos, e.list, e.n, m)
  local p = MG.copy(e.pos)
  make(p, m)
  local scratch = {}
  return base .. suffix(p, MG.legal(p, scratch))
end

local function strip_san(s)
  s = s:gsub("[+#!?]+$", "")
  s = s:gsub("^0%-0%-0$", "O-O-O"):gsub("^0%-0$", "O-O")
  s = s:gsub("^([a-h]x?[a-h]?[18])([QRBN])$", "%1=%2") -- e8Q for e8=Q
  return s
end

function C.uci_of(g, san)
  local e, err = entry(g)
  if not e then return nil, "invalid_state", err end
  if g.status == "finished" then return nil, "game_over", "the game is over" end
  if type(san) ~= "string" then return nil, "illegal_move", "a SAN move is a string" end
  local want = strip_san(san)
  for i = 1, e.n do
    local m = e.list[i]
    if san_base(e.pos, e.list, e.n, m) == want then return uci_of_move(m) end
  end
  return nil, "illegal_move", san:sub(1, 12) .. ": not a legal move in SAN"
end

function C.replay(moves, start_fen)
  local g, err = C.new(start_fen)
  if not g then return nil, "bad_fen", err end
  for i = 1, #moves do
    local res, e2, why = C.move(g, moves[i])
    if not res then return nil, e2, string.format("move %d: %s", i, tostring(why)) end
  end
  return g
end

function C.in_check(g)
  local e = entry(g)
  return e ~= nil and MG.in_check(e.pos)
end

function C.fen(g) return g.fen end

function C.insufficient_material(g)
  local e = entry(g)
  return e ~= nil and dead(e.pos.b)
end

function C.can_mate(g, color)
  local e = entry(g)
  if not e then return nil end
  local sd = color == "white" and 0 or color == "black" and 8 or nil
  if not sd then return nil end
  return side_can_mate(e.pos.b, sd)
end

function C.piece_count(g)
  local e = entry(g)
  if not e then return nil end
  local c = counts(e.pos.b)
  local out = {}
  for sd, name in pairs(COLOR) do
    local x = c[sd]
    out[name] = { p = x[1], n = x[2], b = x[3], r = x[4], q = x[5], k = x[6] }
  end
  return out
end

function C.material(g)
  local e = entry(g)
  if not e then return nil end
  local c = counts(e.pos.b)
  local out = {}
  for sd, name in pairs(COLOR) do
    local x = c[sd]
    out[name] = x[1] + 3 * x[2] + 3 * x[3] + 5 * x[4] + 9 * x[5]
  end
  return out
end

function C.perft(src, depth)
  depth = math.tointeger(depth)
  if not depth or depth < 0 then return nil, "depth is an integer >= 0" end
  local pos, err
  if type(src) == "table" then
    local e, why = entry(src)
    if not e then return nil, why end
    pos = e.pos
  else
    pos, err = parse_fen(src == nil and START_FEN or src)
    if not pos then return nil, err end
  end
  return MG.perft(pos, depth)
end

-- PGN -----------------------------------------------------------------------------------------

local STR = { "Event", "Site", "Date", "Round", "White", "Black", "Result" }
local STR_DEFAULT = { Event = "?", Site = "?", Date = "????.??.??", Round = "?", White = "?", Black = "?", Result = "*" }

local function tag_value(v)
  v = tostring(v):gsub("[%c]", " ")
  return (v:gsub("\\", "\\\\"):gsub('"', '\\"'))
end

function C.pgn(g, tags)
  tags = type(tags) == "table" and tags or {}
  local vals = {}
  for _, k in ipairs(STR) do
    local v = tags[k]
    vals[k] = (type(v) == "string" or type(v) == "number") and tostring(v) or STR_DEFAULT[k]
  end
  local result = g.status == "finished" and g.result or vals.Result
  if result ~= "1-0" and result ~= "0-1" and result ~= "1/2-1/2" then result = "*" end
  vals.Result = result
  local lines = {}
  for _, k in ipairs(STR) do lines[#lines + 1] = string.format('[%s "%s"]', k, tag_value(vals[k])) end
  local extra = {}
  local is_str = {}
  for _, k in ipairs(STR) do is_str[k] = true end
  for k, v in pairs(tags) do
    if type(k) == "string" and not is_str[k] and k ~= "SetUp" and k ~= "FEN" and k:match("^[%w_]+$")
      and (type(v) == "string" or type(v) == "number") then
      extra[#extra + 1] = { k, tostring(v) }
    end
  end
  local start = g.start_fen or START_FEN
  if start ~= START_FEN then
    extra[#extra + 1] = { "SetUp", "1" }
    extra[#extra + 1] = { "FEN", start }
  end
  table.sort(extra, function(a, c) return a[1] < c[1] end)
  for _, kv in ipairs(extra) do lines[#lines + 1] = string.format('[%s "%s"]', kv[1], tag_value(kv[2])) end

  -- movetext
  local f = split_fields(start)
  local white = f[2] ~= "b"
  local num = math.tointeger(tonumber(f[6] or "1")) or 1
  local tokens = {}
  local sans = g.san or {}
  for i = 1, #sans do
    if white then
      tokens[#tokens + 1] = num .. "."
    elseif i == 1 then
      tokens[#tokens + 1] = num .. "..."
    end
    tokens[#tokens + 1] = sans[i]
    if not white then num = num + 1 end
    white = not white
  end
  tokens[#tokens + 1] = result
  local text, line = {}, ""
  for _, tok in ipairs(tokens) do
    if line == "" then line = tok
    elseif #line + 1 + #tok > 79 then text[#text + 1] = line; line = tok
    else line = line .. " " .. tok end
  end
  text[#text + 1] = line
  return table.concat(lines, "\n") .. "\n\n" .. table.concat(text, "\n") .. "\n"
end

return C

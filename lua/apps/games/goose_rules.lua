-- goose_rules: the rules of the jeu de l'oie (game of the goose), as pure Lua 5.4.
--
-- No moonbar API, no globals, no io/os: runs in moonbar's sandbox (base, table, string, math,
-- utf8) and under busted. The module keeps no state; every game lives in a plain table `g`
-- that is JSON-able (sequences 1..n, string-keyed dicts, no functions/metatables, nil = absent),
-- so the room service can snapshot it and hand it back after a restart or a hot reload.
--
-- STATE
--   g = { players  = { {seat=, square=0..63, miss=0.., stuck=nil|"well"|"prison", rolled=bool}, ... }
--                    (in turn order, the order of the seats given to new),
--         turn     = seat to move | nil once finished,
--         winner   = nil | seat,
--         finished = bool }
--   miss: turns still to miss at the inn. stuck: held in the well (31) or the prison (52).
--   rolled: the player has rolled at least once (the 6+3 / 5+4 specials are for the first roll).
--
-- API
--   R.SQUARES[n]   = {kind=..., to=?} for the special squares (goose, bridge 6->12, inn 19,
--                    well 31, maze 42->30, prison 52, death 58->0, finish 63).
--   R.SQUARE_LIST  = the same as a JSON-able sequence of {square=n, kind=..., to=?}, by square.
--   R.GEESE        = sequence of the goose squares.
--   R.new(seats)   -> g | nil, "invalid_seats"   (2..6 distinct integer seats, turn order)
--   R.roll(g, seat, d1, d2) -> res | nil, err    err: "game_over" | "not_your_turn" |
--                    "invalid_dice" (checked in that order; g is then unchanged)
--   R.remove(g, seat) -> res | nil, "no_such_player"
--   R.player(g, seat) -> the player's entry in g.players, or nil
--
-- A ROLL (R.roll), with s = d1 + d2 and direction = forward at the start of every turn:
--   1. from = the mover's square. If this is the player's first roll of the game and the dice
--      are a 6 and a 3 (either order) the pawn goes straight to 26, a 5 and a 4 straight to 53:
--      effect {kind="first_roll", to=26|53}, path {26|53}; nothing else is done to the move
--      (26 and 53 have no effect), the end-of-move rules (step 4) apply there.
--   2. Otherwise the pawn moves s squares in the current direction. A target past 63 bounces:
--      the pawn lands on 126 - target and the direction becomes backward for the rest of this
--      turn: effect {kind="bounce", square=<landing>}. (A backward target below 0 would stop at
--      0; that cannot happen under these rules, it is only a guard.)
--      The landing square is appended to path.
--   3. On the landing square:
--      - a goose: effect {kind="goose", square=n}, then the pawn moves s again in its current
--        direction (step 2, bounce included: a goose repeat forward that passes 63 bounces and
--        goes on backward; a backward pawn landing on a goose goes on backward), repeatedly;
--      - bridge 6 / maze 42 / death 58: effect {kind="bridge"|"maze"|"death", square=6|42|58,
--        to=12|30|0}, the pawn is put on the destination (appended to path) and the move ends:
--        the destination square has no effect of its own (12, 30 and 0 have none anyway);
--      - anything else: the move ends.
--      So path = the landing square of the dice move, then one entry per goose repeat and one
--      per jump; to = path[#path].
--   4. End of the move, on square `to`:
--      - 63: effect {kind="win", square=63}; g.winner = seat, g.finished = true, g.turn = nil,
--        res.next = nil.
--      - 19 (inn): effect {kind="inn", square=19, miss=2}; the mover's miss = 2.
--      - 31 (well) / 52 (prison): effect {kind="well"|"prison", square=31|52}; the mover is
--        stuck there. Every other pawn stuck on that square is freed: one effect
--        {kind="freed", seat=, square=} each, after the mover's effect, in turn order. It stays
--        on that square, not stuck, and moves again on its next turn. A pawn sitting there
--        without being stuck (freed earlier) is left alone. There is never a swap on 31/52.
--      - collision, on any square but 0, 31 and 52 (so also on 12 after the bridge, 30 after the
--        maze, 26/53 after a first-roll special, 19 with the inn): every other pawn on `to` is
--        sent to `from` (the mover's square at the start of the turn) with no effect of that
--        square: its miss becomes 0 and its stuck nil (a pawn sent away from the inn misses no
--        more turns; one sent to 31/52 is not stuck there; one sent to 0 is just at 0).
--        Effect {kind="swap", seat=<other>, from=<its square>, to=<from>} each, after the
--        square's own effect (e.g. inn first, then swap).
--   5. The turn passes on (if not finished), see below: res.next, res.skips, res.freed_all.
--   res = { seat, dice = {d1, d2}, from, to, path, effects, winner = nil|seat,
--           next = seat|nil, skips = {...}, freed_all = true|nil }
--
-- PASSING THE TURN (after a roll that did not win, or when the player to move is removed):
--   First, if every player still in the game is stuck (well or prison; a player waiting at the
--   inn is not stuck), all are freed (stuck = nil; they stay on their squares) and
--   res.freed_all = true. Then the candidates are taken round and round in turn order, starting
--   with the player after the mover (the mover itself comes last, so it plays again when all
--   others are skipped): a candidate with miss > 0 is skipped with reason "inn" and its miss
--   decreases by 1; a stuck candidate is skipped with reason "well" or "prison"; the first other
--   candidate gets the turn. Every skip is appended to res.skips as {seat=, reason=}, in order
--   (a player may appear more than once). A player landing on the inn therefore misses exactly
--   its next 2 turns.
--
-- REMOVE (R.remove: the player leaves): its entry is removed from g.players.
--   - game already finished: nothing else; res = {next=nil, winner=g.winner, skips={}}.
--   - one player left: it wins: g.winner = it, g.finished = true, g.turn = nil;
--     res = {next=nil, winner=seat, skips={}}. (No player left: finished, no winner.)
--   - it was the player to move: the turn passes on as above, starting with the player after
--     the removed one; res = {next, skips, freed_all}.
--   - otherwise: res = {next=g.turn, skips={}} (the turn is not touched).

local R = {}

local GOOSE = { 5, 9, 14, 18, 23, 27, 32, 36, 41, 45, 50, 54, 59 }
R.GEESE = GOOSE

local SQUARES = {
  [6] = { kind = "bridge", to = 12 },
  [19] = { kind = "inn" },
  [31] = { kind = "well" },
  [42] = { kind = "maze", to = 30 },
  [52] = { kind = "prison" },
  [58] = { kind = "death", to = 0 },
  [63] = { kind = "finish" },
}
for _, n in ipairs(GOOSE) do SQUARES[n] = { kind = "goose" } end
R.SQUARES = SQUARES

local list = {}
for n = 0, 63 do
  local sq = SQUARES[n]
  if sq then list[#list + 1] = { square = n, kind = sq.kind, to = sq.to } end
end
R.SQUARE_LIST = list

R.FINISH = 63
R.INN_TURNS = 2

local function int(x)
  return math.tointeger(x) or x
end

local function index_of(g, seat)
  for i, p in ipairs(g.players) do
    if p.seat == seat then return i end
  end
  return nil
end

function R.player(g, seat)
  local i = index_of(g, seat)
  return i and g.players[i] or nil
end

function R.new(seats)
  if type(seats) ~= "table" or #seats < 2 or #seats > 6 then return nil, "invalid_seats" end
  local players, seen = {}, {}
  for i = 1, #seats do
    local s = seats[i]
    s = type(s) == "number" and math.tointeger(s) or nil
    if s == nil or seen[s] then return nil, "invalid_seats" end
    seen[s] = true
    players[i] = { seat = s, square = 0, miss = 0, rolled = false }
  end
  return { players = players, turn = players[1].seat, finished = false }
end

-- Passes the turn on from the player at index after_idx (0 = start with players[1]).
local function advance(g, after_idx)
  local players = g.players
  local n = #players
  local skips, freed_all = {}, nil
  local all_stuck = n > 0
  for _, p in ipairs(players) do
    if not p.stuck then all_stuck = false; break end
  end
  if all_stuck then
    for _, p in ipairs(players) do p.stuck = nil end
    freed_all = true
  end
  -- Every lap round the table lowers some miss count or finds a player to move, so this ends
  -- within (largest miss + 1) laps; the bound only turns a broken invariant into an error.
  local laps = 1
  for _, p in ipairs(players) do
    local m = int(p.miss or 0)
    if m + 1 > laps then laps = m + 1 end
  end
  local i = after_idx
  for _ = 1, n * (laps + 1) do
    i = i % n + 1
    local p = players[i]
    local miss = int(p.miss or 0)
    if miss > 0 then
      p.miss = miss - 1
      skips[#skips + 1] = { seat = p.seat, reason = "inn" }
    elseif p.stuck then
      skips[#skips + 1] = { seat = p.seat, reason = p.stuck }
    else
      g.turn = p.seat
      return p.seat, skips, freed_all
    end
  end
  error("goose_rules: no player can move")
end

local function die(d)
  if type(d) ~= "number" then return nil end
  d = math.tointeger(d)
  if d == nil or d < 1 or d > 6 then return nil end
  return d
end

function R.roll(g, seat, d1, d2)
  if g.finished then return nil, "game_over" end
  local idx = index_of(g, seat)
  if idx == nil or g.turn ~= seat then return nil, "not_your_turn" end
  d1, d2 = die(d1), die(d2)
  if d1 == nil or d2 == nil then return nil, "invalid_dice" end

  local me = g.players[idx]
  local s = d1 + d2
  local from = int(me.square)
  local path, effects = {}, {}
  local pos, dir = from, 1
  local first = not me.rolled
  me.rolled = true

  local function step()
    local target = pos + dir * s
    if target > 63 then
      target = 126 - target
      dir = -1
      pos = target
      effects[#effects + 1] = { kind = "bounce", square = pos }
    else
      if target < 0 then target = 0 end
      pos = target
    end
    path[#path + 1] = pos
  end

  local special
  if first and ((d1 == 6 and d2 == 3) or (d1 == 3 and d2 == 6)) then
    special = 26
  elseif first and ((d1 == 5 and d2 == 4) or (d1 == 4 and d2 == 5)) then
    special = 53
  end

  if special then
    pos = special
    path[1] = pos
    effects[1] = { kind = "first_roll", to = pos }
  else
    step()
    for guard = 1, 65 do
      -- a real move lands on at most a score of squares; the bound only guards
      assert(guard < 65, "goose_rules: endless goose chain")
      local sq = SQUARES[pos]
      local kind = sq and sq.kind
      if kind == "goose" then
        effects[#effects + 1] = { kind = "goose", square = pos }
        step()
      elseif kind == "bridge" or kind == "maze" or kind == "death" then
        effects[#effects + 1] = { kind = kind, square = pos, to = sq.to }
        pos = sq.to
        path[#path + 1] = pos
        break
      else
        break
      end
    end
  end

  me.square = pos
  local res = { seat = me.seat, dice = { d1, d2 }, from = from, to = pos, path = path,
                effects = effects, skips = {} }

  if pos == 63 then
    effects[#effects + 1] = { kind = "win", square = 63 }
    g.winner, g.finished, g.turn = me.seat, true, nil
    res.winner = me.seat
    return res
  end

  local kind = SQUARES[pos] and SQUARES[pos].kind
  if kind == "well" or kind == "prison" then
    effects[#effects + 1] = { kind = kind, square = pos }
    me.stuck = kind
    for _, p in ipairs(g.players) do
      if p ~= me and int(p.square) == pos and p.stuck then
        p.stuck = nil
        effects[#effects + 1] = { kind = "freed", seat = p.seat, square = pos }
      end
    end
  else
    if kind == "inn" then
      me.miss = R.INN_TURNS
      effects[#effects + 1] = { kind = "inn", square = pos, miss = R.INN_TURNS }
    end
    if pos ~= 0 then
      for _, p in ipairs(g.players) do
        if p ~= me and int(p.square) == pos then
          p.square, p.miss, p.stuck = from, 0, nil
          effects[#effects + 1] = { kind = "swap", seat = p.seat, from = pos, to = from }
        end
      end
    end
  end

  res.next, res.skips, res.freed_all = advance(g, idx)
  return res
end

function R.remove(g, seat)
  local idx = index_of(g, seat)
  if idx == nil then return nil, "no_such_player" end
  local was_turn = g.turn == seat
  table.remove(g.players, idx)
  if g.finished then
    return { winner = g.winner, skips = {} }
  end
  local n = #g.players
  if n <= 1 then
    g.finished, g.turn = true, nil
    g.winner = n == 1 and g.players[1].seat or nil
    return { winner = g.winner, skips = {} }
  end
  if was_turn then
    local res = { skips = {} }
    res.next, res.skips, res.freed_all = advance(g, idx - 1)
    return res
  end
  return { next = g.turn, skips = {} }
end

return R

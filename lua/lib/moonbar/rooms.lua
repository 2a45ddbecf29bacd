-- moonbar.rooms: the room service. A game is a Lua module that defines a room kind
-- (rooms.kind(name, def)); the service holds the plumbing: the WAMP procedures moonbar.room.*
-- and moonbar.leaderboard.top, seats and spectators, seat tokens, drop/return/timeout,
-- named timers with deadlines, the room chat with its rate limit, the per-room event seq,
-- snapshots to moonbar.store after every accepted action (coalesced per loop turn), restore
-- after a restart, and hot reload: rooms live in moonbar.state, so a new version of the game
-- code finds them as they were and re-arms their timers.
--
-- One app runs the service: it requires this module, defines its kinds, then calls
-- rooms.start(). Callbacks of one room run one at a time: they never yield (the service keeps
-- store writes out of them: snapshots and scores are written after the callback returns).
-- See docs/games.md for the WAMP contract and a tutorial.
local M = {}

local ERR = "moonbar.error.room."
local CHAT_MAX, CHAT_KEEP, CHAT_RATE = 500, 50, 5
local CLOSE_FINISHED_MS, CLOSE_EMPTY_MS = 600000, 600000
local SNAPSHOTS = "rooms"
local DISCLOSE = { disclose_caller = true } -- seats are keyed by the caller's session and authid

local S = moonbar.state
S.rooms = S.rooms or {}       -- room ID → room record (plain data + members)
S.sessions = S.sessions or {} -- session ID → { [room ID] = member } (runtime)
local rooms, sessions = S.rooms, S.sessions

-- Writes not done yet live in the state too: a reload between an action and its snapshot
-- (which waits for the end of the loop turn) must not lose it.
S.dirty = S.dirty or {}
S.closed = S.closed or {}
S.pending = S.pending or {} -- scores and jobs (room:score, room:later) for after the callbacks

local kinds = {}        -- this version's room kinds
local handles = {}      -- room ID → { [timer name] = moonbar timer } (this version's timers)
local flush_armed = false
local options = { snapshots = true, lobby = nil }

local store = moonbar.store

local Room = {}
Room.__index = Room

local function array(t) return moonbar.array(t or {}) end

local function fail(kind, fmt, ...)
  error(moonbar.error(ERR .. kind, { string.format(fmt, ...) }), 0)
end
M.fail = fail

local ARRAY_MT = getmetatable(moonbar.array())

local function is_array(t)
  return type(t) == "table" and (t[1] ~= nil or getmetatable(t) == ARRAY_MT)
end

-- An answer: a dict as kwargs, a list as the Arguments, a value as the only Argument.
local function answer(v)
  if v == nil then return nil end
  if type(v) == "table" and not moonbar.is_error(v) then
    if is_array(v) then return moonbar.result(v) end
    if next(v) ~= nil then return moonbar.result(nil, v) end
  end
  return v
end

-- ---- snapshots and scores ---------------------------------------------------------------

local function timer_list(R)
  local out, now = array(), moonbar.now()
  for name, t in pairs(R.timers) do
    out[#out + 1] = { name = name, remaining = math.max(0, t.deadline - now), data = t.data }
  end
  return out
end

local function snapshot(R)
  local seats = array()
  for _, m in ipairs(R.members) do
    if m.role == "player" then
      seats[#seats + 1] = { seat = m.seat, name = m.name, token = m.token, authid = m.authid, owner = m.owner }
    end
  end
  return { id = R.id, kind = R.kind, params = R.params, status = R.status, seq = R.seq, state = R.state,
           chat = R.chat, members = seats, timers = timer_list(R), created = R.created,
           kind_version = R.kind_version, finished_at = R.finished_at }
end

local arm_flush -- forward

-- Writes what the callbacks left: deleted rooms, snapshots, then the jobs (scores, archives),
-- in slices of about 10 ms of CPU so that a turn with hundreds of dirty rooms never runs into
-- the callback budget (whatever is left goes to the next slice, nothing is dropped).
local function flush()
  flush_armed = false
  local t0 = os.clock()
  for id in pairs(S.closed) do
    S.closed[id] = nil
    local ok, err = pcall(store.delete, SNAPSHOTS, id, { wait = false })
    if not ok then moonbar.log.warn("room " .. id .. ": snapshot not deleted: " .. tostring(err)) end
    if os.clock() - t0 > 0.01 then arm_flush(); return end
  end
  for id in pairs(S.dirty) do
    S.dirty[id] = nil
    local R = rooms[id]
    if R then
      local ok, err = pcall(store.put, SNAPSHOTS, id, snapshot(R), { wait = false })
      if not ok then moonbar.log.error("room " .. id .. ": snapshot failed: " .. tostring(err)) end
    end
    if os.clock() - t0 > 0.01 then arm_flush(); return end
  end
  local jobs = S.pending
  if #jobs == 0 then return end
  S.pending = {}
  for _, s in ipairs(jobs) do -- after the room callbacks: a store call may wait here
    if s.job then
      local ok, err = pcall(s.job, store)
      if not ok then moonbar.log.error("room " .. s.room .. ": " .. s.what .. " failed: " .. tostring(err)) end
    else
      local ok, err = pcall(store.submit, s.board, s.owner, s.score, s.op)
      if not ok then moonbar.log.error("leaderboard " .. s.board .. ": score of " .. s.owner .. " lost: " .. tostring(err)) end
    end
  end
end

arm_flush = function()
  if not flush_armed then
    flush_armed = true
    moonbar.timer(0, flush)
  end
end

local function persisted(R)
  return options.snapshots and kinds[R.kind] and kinds[R.kind].snapshot ~= false
end

local function mark(R)
  if persisted(R) then
    S.dirty[R.id] = true
    arm_flush()
  end
end

-- ---- events -----------------------------------------------------------------------------------

local topics = setmetatable({}, { __mode = "k" }) -- room → its topic URI
local function topic(R)
  local t = topics[R]
  if not t then t = "moonbar.room." .. R.id; topics[R] = t end
  return t
end

-- Publishes a public event: the next seq.
function Room:broadcast(type_, fields)
  local ev = fields or {}
  ev.type = type_
  local seq = self.seq + 1
  ev.seq = seq
  moonbar.publish(topic(self), { ev })
  self.seq = seq -- taken once the event is out: a publish that raised leaves no gap
  return seq
end

-- Sends an event to one member only (or a list of members): it carries the current seq
-- without taking a new one, so the others see no gap.
function Room:send(to, type_, fields)
  local ids = array()
  for _, m in ipairs(to.role and { to } or to) do
    if m.session then ids[#ids + 1] = m.session end
  end
  if #ids == 0 then return false end
  local ev = fields or {}
  ev.type = type_
  ev.seq = self.seq
  ev.private = true
  moonbar.publish(topic(self), { ev }, nil, { eligible = ids })
  return true
end

-- ---- members --------------------------------------------------------------------------------

local function index_add(sid, R, m)
  local t = sessions[sid]
  if not t then t = {}; sessions[sid] = t end
  t[R.id] = m
end

local function index_del(sid, R)
  local t = sid and sessions[sid]
  if t then
    t[R.id] = nil
    if next(t) == nil then sessions[sid] = nil end
  end
end

function Room:players()
  local out = {}
  for _, m in ipairs(self.members) do
    if m.role == "player" then out[#out + 1] = m end
  end
  table.sort(out, function(a, b)
    if type(a.seat) == type(b.seat) then return a.seat < b.seat end
    return tostring(a.seat) < tostring(b.seat)
  end)
  return out
end

function Room:member(seat)
  for _, m in ipairs(self.members) do
    if m.role == "player" and m.seat == seat then return m end
  end
end

function Room:by_name(name)
  for _, m in ipairs(self.members) do
    if m.name == name then return m end
  end
end

function Room:spectators()
  local n = 0
  for _, m in ipairs(self.members) do
    if m.role == "spectator" then n = n + 1 end
  end
  return n
end

local function remove_member(R, m)
  for i, x in ipairs(R.members) do
    if x == m then table.remove(R.members, i); break end
  end
  index_del(m.session, R)
  m.session = nil
end

-- ---- timers ------------------------------------------------------------------------------------

local run -- forward

local function arm(R, name)
  local t = R.timers[name]
  local h = handles[R.id]
  if not h then h = {}; handles[R.id] = h end
  if h[name] then h[name]:cancel() end
  h[name] = moonbar.timer(math.max(0, math.floor(t.deadline - moonbar.now())), function()
    h[name] = nil
    local cur = rooms[R.id]
    if cur ~= R or R.timers[name] ~= t then return end
    R.timers[name] = nil
    if name:sub(1, 1) == "~" then
      run(R, M._internal_timer, name, t.data)
    else
      local k = kinds[R.kind]
      local fn = k and k.timers and k.timers[name]
      if not fn then
        moonbar.log.warn("room " .. R.id .. ": timer " .. name .. " has no handler in kind " .. R.kind)
        return
      end
      run(R, fn, t.data)
    end
  end)
end

-- Arms (or re-arms) timer name of the room to fire after ms with data.
function Room:after(name, ms, data)
  if type(name) ~= "string" or name == "" then error("timer name must be a non-empty string", 2) end
  if type(ms) ~= "number" or ms < 0 then error("timer delay must be a number of milliseconds >= 0", 2) end
  self.timers[name] = { deadline = moonbar.now() + ms, data = data }
  arm(self, name)
end

function Room:cancel(name)
  self.timers[name] = nil
  local h = handles[self.id]
  if h and h[name] then h[name]:cancel(); h[name] = nil end
end

-- Milliseconds left before timer name fires, or nil.
function Room:remaining(name)
  local t = self.timers[name]
  return t and math.max(0, t.deadline - moonbar.now()) or nil
end

-- ---- randomness: xoshiro256** per room, seeded from the router's generator -------------------

local function rotl(x, k) return (x << k) | (x >> (64 - k)) end

function Room:random(m, n)
  local s = self.rng
  if not s then
    s = { moonbar.seed(), moonbar.seed(), moonbar.seed(), moonbar.seed() }
    self.rng = s
  end
  local result = rotl(s[2] * 5, 7) * 9
  local t = s[2] << 17
  s[3] = s[3] ~ s[1]; s[4] = s[4] ~ s[2]; s[2] = s[2] ~ s[3]; s[1] = s[1] ~ s[4]
  s[3] = s[3] ~ t; s[4] = rotl(s[4], 45)
  if not m then return (result >> 11) * (1.0 / 9007199254740992.0) end
  if not n then m, n = 1, m end
  return m + ((result >> 1) % (n - m + 1))
end

-- n dice of `sides` sides (default 2 six-sided dice).
function Room:dice(n, sides)
  local out = array()
  for i = 1, n or 2 do out[i] = self:random(1, sides or 6) end
  return out
end

-- ---- status, scores -------------------------------------------------------------------------

function Room:start(fields)
  if self.status ~= "waiting" then return false end
  self.status = "playing"
  self:broadcast("start", fields)
  return true
end

function Room:finish(fields)
  if self.status == "finished" then return false end
  self.status = "finished"
  self.finished_at = os.time()
  for name in pairs(self.timers) do
    if name:sub(1, 1) ~= "~" then self:cancel(name) end
  end
  self:broadcast("end", fields)
  self:after("~close", CLOSE_FINISHED_MS)
  return true
end

-- Queues a leaderboard submission, written after the callback (op: "best", "set", "incr").
function Room:score(board, owner, score, op)
  S.pending[#S.pending + 1] = { board = board, owner = owner, score = score, op = op or "best" }
  arm_flush()
end

-- Runs job(store) after the callback, where it may wait on the store (ratings that read the
-- players' current ones, archives). what names it in the log if it fails.
function Room:later(what, job)
  S.pending[#S.pending + 1] = { job = job, what = what, room = self.id }
  arm_flush()
end

Room.fail = function(_, kind, fmt, ...) fail(kind, fmt, ...) end

-- ---- running callbacks -------------------------------------------------------------------------

-- Runs fn(R, ...) for room R; marks it for a snapshot. Errors propagate to the caller (a WAMP
-- caller gets them as ERROR), after the room is marked (a hook may have changed it before).
run = function(R, fn, ...)
  local ok, a, b = pcall(fn, R, ...)
  if rooms[R.id] == R then mark(R) end
  if not ok then
    if not moonbar.is_error(a) then
      moonbar.log.error("room " .. R.id .. " (" .. R.kind .. "): " .. tostring(a))
    end
    error(a, 0)
  end
  return a, b
end

local function hook(R, name, ...)
  local k = kinds[R.kind]
  local fn = k and k[name]
  if fn then return run(R, fn, ...) end
end

local function close_room(R)
  if rooms[R.id] ~= R then return end
  pcall(hook, R, "terminate")
  for name in pairs(R.timers) do R:cancel(name) end
  for _, m in ipairs(R.members) do index_del(m.session, R) end
  rooms[R.id] = nil
  handles[R.id] = nil
  S.dirty[R.id] = nil
  S.closed[R.id] = true
  arm_flush()
  moonbar.log.info("room " .. R.id .. " (" .. R.kind .. ") closed")
end

local function check_empty(R)
  if R.id == options.lobby then return end
  for _, m in ipairs(R.members) do
    if m.session or m.role == "player" then return end
  end
  R:after("~close", CLOSE_EMPTY_MS)
end

local function leave(R, m, reason)
  remove_member(R, m)
  R:cancel("~reconnect:" .. tostring(m.seat))
  R:broadcast("leave", { seat = m.seat, name = m.name, role = m.role, reason = reason })
  if m.role == "player" then hook(R, "on_leave", m, reason) end
  if rooms[R.id] == R then check_empty(R) end
end

function M._internal_timer(R, name, data)
  if name == "~close" then
    close_room(R)
  elseif name:sub(1, 11) == "~reconnect:" then
    local m = R:member(data and data.seat)
    if m and not m.session then leave(R, m, "timeout") end
  end
end

-- ---- the WAMP procedures ------------------------------------------------------------------------

local function caller(details)
  local sid = details and details.caller
  if type(sid) ~= "number" then fail("invalid_argument", "the caller's session is unknown") end
  local method = details.caller_authmethod
  local authid = details.caller_authid
  local authenticated = method ~= nil and method ~= "" and method ~= "anonymous" and authid ~= nil and authid ~= ""
  return sid, authenticated and authid or nil
end

local function get_room(id)
  if type(id) ~= "string" then fail("invalid_argument", "room must be a room ID (a string)") end
  local R = rooms[id]
  if not R then fail("no_such_room", "no room '%s'", id) end
  return R
end

local function view(R, m)
  local k = kinds[R.kind]
  local v = {}
  local src = (k and k.view) and k.view(R, m) or R.state
  for key, val in pairs(src or {}) do v[key] = val end
  v.status, v.kind = R.status, R.kind
  local members = array()
  for _, x in ipairs(R.members) do
    members[#members + 1] = { seat = x.seat or moonbar.null, name = x.name, role = x.role, connected = x.session ~= nil }
  end
  v.members = members
  v.chat = R.chat
  return v
end

local function join_answer(R, m)
  return { room = R.id, seat = m.seat or moonbar.null, role = m.role, token = m.token or moonbar.null,
           state = view(R, m), seq = R.seq }
end

local function check_name(R, name, default, self)
  if name == nil then
    name = default
    local n = 1
    while R:by_name(name) and R:by_name(name) ~= self do n = n + 1; name = default .. " " .. n end
    return name
  end
  if type(name) ~= "string" then fail("invalid_argument", "name must be a string") end
  name = name:match("^%s*(.-)%s*$")
  local len = utf8.len(name)
  if not len or len < 1 or len > 32 then fail("invalid_argument", "name must be 1 to 32 characters of UTF-8") end
  local other = R:by_name(name)
  if other and other ~= self then fail("invalid_argument", "the name '%s' is taken in this room", name) end
  return name
end

local function reclaim(R, m, sid)
  if m.session == sid then return m end
  local was_connected = m.session ~= nil
  if m.session then index_del(m.session, R) end
  m.session = sid
  index_add(sid, R, m)
  R:cancel("~reconnect:" .. tostring(m.seat))
  if not was_connected then
    R:broadcast("return", { seat = m.seat, name = m.name })
    hook(R, "on_return", m)
  end
  return m
end

local function free_seat(R, k, wanted)
  local taken = {}
  for _, m in ipairs(R:players()) do taken[m.seat] = true end
  if wanted ~= nil then
    local valid = false
    for _, s in ipairs(k.seat_names or {}) do if s == wanted then valid = true end end
    if not k.seat_names then valid = math.type(wanted) == "integer" and wanted >= 1 and wanted <= R.max_players end
    if not valid then fail("invalid_argument", "no seat %s in this room", tostring(wanted)) end
    if taken[wanted] then fail("full", "seat %s is taken", tostring(wanted)) end
    return wanted
  end
  if k.seat_names then
    for _, s in ipairs(k.seat_names) do if not taken[s] then return s end end
  else
    for s = 1, R.max_players do if not taken[s] then return s end end
  end
  fail("full", "room '%s' is full (%d players)", R.id, R.max_players)
end

local function do_join(args, kwargs, details)
  local sid, authid = caller(details)
  local R = get_room(args[1])
  local k = kinds[R.kind]
  local as = kwargs.as or "player"
  if as ~= "player" and as ~= "spectator" then fail("invalid_argument", "as must be \"player\" or \"spectator\"") end
  local mine = sessions[sid] and sessions[sid][R.id]
  if mine and mine.role == as then return join_answer(R, mine) end

  if as == "player" then
    local token = kwargs.token
    if token ~= nil then
      if type(token) ~= "string" then fail("invalid_argument", "token must be a string") end
      for _, m in ipairs(R.members) do
        if m.role == "player" and m.token == token then
          if mine then remove_member(R, mine) end
          return join_answer(R, reclaim(R, m, sid))
        end
      end
      fail("invalid_argument", "this token holds no seat in room '%s' (the seat may have timed out)", R.id)
    end
    if authid then
      for _, m in ipairs(R.members) do
        if m.role == "player" and m.authid == authid then
          if mine then remove_member(R, mine) end
          return join_answer(R, reclaim(R, m, sid))
        end
      end
    end
    if R.status ~= "waiting" and not k.open then
      fail("full", "the game in room '%s' has started: join as a spectator", R.id)
    end
    if R.status == "finished" then fail("game_over", "the game in room '%s' is over", R.id) end
    local seat = free_seat(R, k, kwargs.seat)
    local name = check_name(R, kwargs.name, authid or ("player " .. tostring(seat)), mine)
    local m = { seat = seat, name = name, role = "player", token = moonbar.token(), authid = authid,
                owner = authid or name, session = sid, chat_times = {} }
    if k.join_attempt then
      local ok, why = run(R, k.join_attempt, m)
      if ok == false then fail("invalid_argument", "%s", why or "the room refused the join") end
    end
    if mine then remove_member(R, mine) end
    R.members[#R.members + 1] = m
    index_add(sid, R, m)
    R:cancel("~close")
    R:broadcast("join", { seat = m.seat, name = m.name, role = "player" })
    hook(R, "on_join", m)
    return join_answer(R, m)
  end

  if mine then fail("invalid_argument", "you hold a seat in room '%s': leave it first to spectate", R.id) end
  local name = check_name(R, kwargs.name, "spectator", nil)
  local m = { name = name, role = "spectator", session = sid, chat_times = {} }
  R.members[#R.members + 1] = m
  index_add(sid, R, m)
  R:cancel("~close")
  R:broadcast("join", { name = m.name, role = "spectator" })
  hook(R, "on_spectate", m)
  return join_answer(R, m)
end

local function check_text(text, what)
  if type(text) ~= "string" then fail("invalid_argument", "%s must be a string", what) end
  local n = utf8.len(text)
  if not n then fail("invalid_argument", "%s must be UTF-8", what) end
  if n < 1 or n > CHAT_MAX then fail("invalid_argument", "%s must be 1 to %d characters (got %d)", what, CHAT_MAX, n) end
end

local function rate(m)
  local now, t = moonbar.now(), m.chat_times
  if not t then t = {}; m.chat_times = t end
  while #t > 0 and now - t[1] >= 1000 do table.remove(t, 1) end
  if #t >= CHAT_RATE then fail("rate_limited", "at most %d chat messages per second", CHAT_RATE) end
  t[#t + 1] = now
end

local builtin = {}

function builtin.chat(R, m, args)
  local text = args[1]
  check_text(text, "text")
  rate(m)
  local msg = { from = m.name, seat = m.seat, text = text, ts = os.time() }
  local chat = R.chat
  chat[#chat + 1] = msg
  if #chat > CHAT_KEEP then table.remove(chat, 1) end
  local seq = R:broadcast("chat", { from = m.name, seat = m.seat, text = text, ts = msg.ts })
  return { seq = seq }
end

function builtin.whisper(R, m, args)
  local name, text = args[1], args[2]
  if type(name) ~= "string" then fail("invalid_argument", "whisper takes a member's name and a text") end
  check_text(text, "text")
  local to = R:by_name(name)
  if not to then fail("invalid_argument", "no member named '%s' in room '%s'", name, R.id) end
  rate(m)
  if not R:send(to, "whisper", { from = m.name, to = to.name, text = text, ts = os.time() }) then
    fail("invalid_argument", "'%s' is not connected", name)
  end
  return nil
end

local function do_act(args, kwargs, details)
  local sid = caller(details)
  local R = get_room(args[1])
  local action = args[2]
  if type(action) ~= "string" then fail("invalid_argument", "action must be a string") end
  local m = sessions[sid] and sessions[sid][R.id]
  local rest = array(table.move(args, 3, #args, 1, {}))
  local b = builtin[action]
  if b then
    if not m then fail("not_a_member", "join room '%s' first", R.id) end
    return run(R, b, m, rest, kwargs)
  end
  local k = kinds[R.kind]
  local fn = k.actions and k.actions[action]
  if not fn then fail("no_such_action", "rooms of kind '%s' have no action '%s'", R.kind, action) end
  if not m and R.creator == sid and (k.creator_actions or {})[action] then
    m = { role = "creator", session = sid }
  end
  if k.reads and k.reads[action] then -- reads: anyone, at any time, and nothing to save
    return fn(R, m or { role = "none", session = sid }, rest, kwargs)
  end
  if not m then fail("not_a_member", "join room '%s' as a player first", R.id) end
  if m.role == "spectator" then fail("not_a_member", "spectators cannot act ('%s')", action) end
  if R.status == "finished" then fail("game_over", "the game in room '%s' is over", R.id) end
  return run(R, fn, m, rest, kwargs)
end

local function do_create(args, kwargs, details)
  local sid = caller(details)
  local kind = args[1]
  if type(kind) ~= "string" then fail("invalid_argument", "create takes a room kind (a string)") end
  local k = kinds[kind]
  if not k or k.hidden then fail("invalid_argument", "no room kind '%s'", kind) end
  local params = k.params and k.params(kwargs) or kwargs
  local id
  repeat id = (k.prefix or kind) .. "_" .. moonbar.token(6) until not rooms[id]
  return { room = M.create(kind, params, id, sid).id, kind = kind }
end

local function list_entry(R)
  local players = array()
  for _, m in ipairs(R:players()) do
    players[#players + 1] = { seat = m.seat, name = m.name, connected = m.session ~= nil }
  end
  return { room = R.id, kind = R.kind, status = R.status, players = players, max_players = R.max_players,
           spectators = R:spectators(), created = R.created }
end

local function do_list(args)
  local kind = args[1]
  if kind ~= nil and type(kind) ~= "string" then fail("invalid_argument", "kind must be a string") end
  local out = array()
  for _, R in pairs(rooms) do
    if kind == nil or R.kind == kind then out[#out + 1] = list_entry(R) end
  end
  table.sort(out, function(a, b)
    if a.created ~= b.created then return a.created > b.created end
    return a.room < b.room
  end)
  return out
end

local function do_state(args, _, details)
  local sid = caller(details)
  local R = get_room(args[1])
  local m = sessions[sid] and sessions[sid][R.id]
  return { state = view(R, m), seq = R.seq, status = R.status }
end

local function do_leave(args, _, details)
  local sid = caller(details)
  local R = get_room(args[1])
  local m = sessions[sid] and sessions[sid][R.id]
  if not m then fail("not_a_member", "you are not in room '%s'", R.id) end
  leave(R, m, "left")
  return nil
end

local function do_top(args)
  local board, limit = args[1], args[2] or 10
  if type(board) ~= "string" or board == "" then fail("invalid_argument", "top takes a board name and a limit") end
  if math.type(limit) ~= "integer" or limit < 1 or limit > 1000 then
    fail("invalid_argument", "limit must be an integer from 1 to 1000")
  end
  return array(store.top(board, limit))
end

-- A session left the realm: its seats are kept for reconnect_s, its spectating ends.
local function on_session_leave(args)
  local sid = args[1]
  local mine = sessions[sid]
  if not mine then return end
  sessions[sid] = nil
  for id, m in pairs(mine) do
    local R = rooms[id]
    if R then
      m.session = nil
      if m.role == "spectator" then
        leave(R, m, "left")
      else
        R:broadcast("drop", { seat = m.seat, name = m.name })
        local ok, err = pcall(hook, R, "on_drop", m)
        if not ok then moonbar.log.warn("room " .. id .. ": on_drop failed: " .. tostring(err)) end
        if rooms[id] == R and R:member(m.seat) == m then
          R:after("~reconnect:" .. tostring(m.seat), (R.reconnect_s or 60) * 1000, { seat = m.seat })
        end
        mark(R)
      end
    end
  end
end

-- ---- the Lua side ------------------------------------------------------------------------------

-- Defines a room kind. def: min_players, max_players (or seats = {names}), open (players may
-- join while playing: chat rooms), snapshot (false: never persisted), version, params(kwargs)
-- → params (raise moonbar.error.room.invalid_argument on bad ones), init(room, params) → state,
-- join_attempt(room, member) → false, reason to refuse, on_join/on_drop/on_return(room, member),
-- on_leave(room, member, reason), actions = {name = fn(room, member, args, kwargs) → result},
-- creator_actions = {name = true} (the creator may call them without a seat), reads = {name =
-- true} (actions that only read: anyone may call them, at any time), timers = {name =
-- fn(room, data)}, view(room, member) → the state that member sees, terminate(room),
-- migrate(state, from_version) → state (a reloaded kind with a new version), prefix (room IDs).
function M.kind(name, def)
  if type(name) ~= "string" or not name:match("^[a-z][a-z0-9_]*$") then
    error("a room kind's name is lowercase letters, digits and _", 2)
  end
  def.name = name
  def.version = def.version or 1
  if def.seats then def.seat_names = def.seats end
  kinds[name] = def
  return def
end

function M.get(id) return rooms[id] end
function M.configure(opts) for k, v in pairs(opts) do options[k] = v end end

-- Creates a room (from Lua: e.g. the lobby at start); returns it.
function M.create(kind, params, id, creator)
  local k = kinds[kind]
  if not k then error("no room kind '" .. tostring(kind) .. "'", 2) end
  params = params or {}
  -- the service's own param: a bad one would break the drop of a seat (the reconnect timer)
  local rs = params.reconnect_s
  if rs ~= nil and (type(rs) ~= "number" or rs ~= rs or rs < 0 or rs > 86400) then
    fail("invalid_argument", "reconnect_s must be a number from 0 to 86400")
  end
  local R = setmetatable({ id = id, kind = kind, params = params, status = "waiting", seq = 0, members = {},
                           chat = array(), timers = {}, created = os.time(),
                           kind_version = k.version, creator = creator,
                           max_players = params.max_players or k.max_players or (k.seats and #k.seats) or 2,
                           reconnect_s = params.reconnect_s or k.reconnect_s or 60 }, Room)
  rooms[id] = R
  R.state = k.init and run(R, k.init, params) or {}
  mark(R)
  moonbar.log.info("room " .. id .. " (" .. kind .. ") created")
  return R
end

local function restore()
  local n = 0
  local ok, list = pcall(store.list, SNAPSHOTS, "", 1000)
  if not ok then
    moonbar.log.error("rooms: snapshots could not be read: " .. tostring(list))
    return
  end
  for _, e in ipairs(list) do
    local snap = e.value
    local k = kinds[snap.kind]
    if not k then
      moonbar.log.warn("room " .. tostring(snap.id) .. ": kind " .. tostring(snap.kind) .. " is gone; not restored")
    else
      local R = setmetatable({ id = snap.id, kind = snap.kind, params = snap.params or {}, status = snap.status,
                               seq = snap.seq or 0, state = snap.state, chat = snap.chat or array(), members = {},
                               timers = {}, created = snap.created or os.time(), kind_version = snap.kind_version,
                               finished_at = snap.finished_at }, Room)
      R.max_players = R.params.max_players or k.max_players or (k.seats and #k.seats) or 2
      R.reconnect_s = R.params.reconnect_s or k.reconnect_s or 60
      for _, m in ipairs(snap.members or {}) do
        R.members[#R.members + 1] = { seat = m.seat, name = m.name, role = "player", token = m.token,
                                      authid = m.authid, owner = m.owner or m.name, chat_times = {} }
      end
      local now = moonbar.now()
      for _, t in ipairs(snap.timers or {}) do -- clocks paused while moonbar was down
        R.timers[t.name] = { deadline = now + t.remaining, data = t.data }
      end
      for _, m in ipairs(R.members) do -- everyone is away until they rejoin
        local key = "~reconnect:" .. tostring(m.seat)
        if not R.timers[key] then R.timers[key] = { deadline = now + R.reconnect_s * 1000, data = { seat = m.seat } } end
      end
      rooms[R.id] = R
      for _, m in ipairs(R.members) do -- the game hears that they are away (nobody is subscribed yet)
        local hk = k.on_drop
        if hk then
          local ok2, err = pcall(hk, R, m)
          if not ok2 then moonbar.log.warn("room " .. R.id .. ": on_drop failed: " .. tostring(err)) end
        end
      end
      n = n + 1
    end
  end
  if n > 0 then moonbar.log.info("rooms: " .. n .. " restored from the store") end
end

-- Starts the service: registers the procedures, restores rooms (first start) or takes them over
-- (reload: new methods, timers re-armed, migrate for kinds whose version changed).
function M.start(opts)
  if opts then M.configure(opts) end
  moonbar.register("moonbar.room.create", function(a, kw, d) return answer(do_create(a, kw, d)) end, DISCLOSE)
  moonbar.register("moonbar.room.list", function(a, kw, d) return answer(do_list(a, kw, d)) end, DISCLOSE)
  moonbar.register("moonbar.room.join", function(a, kw, d) return answer(do_join(a, kw, d)) end, DISCLOSE)
  moonbar.register("moonbar.room.act", function(a, kw, d) return answer(do_act(a, kw, d)) end, DISCLOSE)
  moonbar.register("moonbar.room.state", function(a, kw, d) return answer(do_state(a, kw, d)) end, DISCLOSE)
  moonbar.register("moonbar.room.leave", function(a, kw, d) return answer(do_leave(a, kw, d)) end, DISCLOSE)
  moonbar.register("moonbar.leaderboard.top", function(a, kw, d) return answer(do_top(a, kw, d)) end)
  moonbar.subscribe("wamp.session.on_leave", on_session_leave)

  if not S.restored then
    S.restored = true
    restore()
  end
  for id, R in pairs(rooms) do
    setmetatable(R, Room)
    local k = kinds[R.kind]
    if k and k.migrate and R.kind_version ~= k.version then
      local ok, st = pcall(k.migrate, R.state, R.kind_version)
      if ok and st ~= nil then
        R.state, R.kind_version = st, k.version
        mark(R)
      elseif not ok then
        moonbar.log.error("room " .. id .. ": migrate from version " .. tostring(R.kind_version) .. " failed: " .. tostring(st))
      end
    end
    for name in pairs(R.timers) do arm(R, name) end
  end
  if options.lobby and not rooms[options.lobby] then
    local R = M.create(options.lobby_kind or "chat", {}, options.lobby)
    R.status = "playing"
  end
  -- rooms saved by the version that was running are saved again by this one
  function on_stop() -- luacheck: ignore (a global of the script: moonbar calls it at shutdown)
    for id, R in pairs(rooms) do
      if persisted(R) then S.dirty[id] = true end -- timers' remaining time as of now
    end
    flush()
  end
  if next(S.dirty) or next(S.closed) or #S.pending > 0 then arm_flush() end
end

return M

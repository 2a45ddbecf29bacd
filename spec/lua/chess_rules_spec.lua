-- The chess rules (lua/apps/games/chess_rules.lua, chess_movegen.lua): pure Lua, no moonbar API.
-- The move generator's counts are in chess_perft_spec.lua.
package.path = "lua/apps/games/?.lua;" .. package.path
local C = require("chess_rules")

-- Helpers -------------------------------------------------------------------------------------

package.path = "spec/lua/support/?.lua;" .. package.path
local P = require("plain")
local copy, check_plain, encode, decode = P.copy, P.check_plain, P.encode, P.decode

local function new(fen)
  local g, err = C.new(fen)
  assert(g, "C.new failed: " .. tostring(err))
  check_plain(g)
  return g
end

-- Plays moves that must be legal; returns the last result.
local function play(g, moves)
  local res
  for _, m in ipairs(moves) do
    local err, why
    res, err, why = C.move(g, m)
    assert(res, ("%s refused: %s %s"):format(m, tostring(err), tostring(why)))
    check_plain(g)
    check_plain(res, "res")
  end
  return res
end

local function game(fen, moves)
  local g = new(fen)
  play(g, moves or {})
  return g
end

-- The move must be refused as illegal, with a why containing the given text, and g unchanged.
local function refused(g, uci, text, err)
  local before = copy(g)
  local legal = C.legal_moves(g)
  local res, e, why = C.move(g, uci)
  assert.is_nil(res)
  assert.are.equal(err or "illegal_move", e)
  assert.are.equal("string", type(why))
  if text then
    assert(why:find(text, 1, true), ("why of %s: '%s' lacks '%s'"):format(tostring(uci), why, text))
  end
  assert.are.same(before, g)
  assert.are.same(legal, C.legal_moves(g))
  return why
end

local function sans(fen, moves)
  local g = game(fen, moves)
  return table.concat(g.san, " "), g
end

local SCHOLAR = { "e2e4", "e7e5", "f1c4", "b8c6", "d1h5", "g8f6", "h5f7" }

-- Tests -------------------------------------------------------------------------------------

describe("chess_rules", function()
  describe("new", function()
    it("starts from the standard position by default", function()
      local g = new()
      assert.are.same({
        start_fen = C.START_FEN, fen = C.START_FEN, moves = {}, san = {},
        history = { "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq -" },
        turn = "white", check = false, status = "playing",
      }, g)
      assert.are.equal(20, #C.legal_moves(g))
    end)

    it("takes a FEN and writes it back in canonical form", function()
      local g = new("  4k3/8/8/8/8/8/8/R3K2R   w   QK - 3 40 ")
      assert.are.equal("4k3/8/8/8/8/8/8/R3K2R w KQ - 3 40", g.fen)
      assert.are.equal(g.fen, g.start_fen)
      assert.are.equal("white", g.turn)
      g = new("4k3/8/8/8/8/8/8/R3K2R b - - 0 1")
      assert.are.equal("black", g.turn)
    end)

    it("keeps the en passant square of a FEN even when no capture is possible", function()
      local g = new("rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq e3 0 1")
      assert.are.equal("rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq e3 0 1", g.fen)
      -- but the repetition key leaves it out: no black pawn can take on e3
      assert.are.same({ "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq -" }, g.history)
    end)

    it("notes a check in the given position", function()
      local g = new("4k3/8/8/8/8/8/4r3/4K3 w - - 0 1")
      assert.is_true(g.check)
      assert.are.same({ "e1d1", "e1e2", "e1f1" }, C.legal_moves(g))
    end)

    local bad = {
      { "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq -", "6 fields" },
      { "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1 x", "6 fields" },
      { "", "6 fields" },
      { "rnbqkbnr/pppppppp/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1", "7 ranks" },
      { "rnbqkbnr/pppppppp/8/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1", "9 ranks" },
      { "rnbqkbnr/pppppppp/9/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1", "bad character '9'" },
      { "rnbqkbnr/ppppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1", "rank 7 has more than 8" },
      { "rnbqkbnr/pppppppp/7/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1", "rank 6 has 7 squares" },
      { "rnbqkbnr/pppppppp/44/8/8/8/PPPPPPPP/RNBQKBNX w KQkq - 0 1", "bad character 'X'" },
      { "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQ1BNR w kq - 0 1", "white has 0 kings" },
      { "rnbqkbnr/pppppppp/8/8/8/2k5/PPPPPPPP/RNBQKBNR w KQ - 0 1", "black has 2 kings" },
      { "4k3/8/8/8/8/8/8/KK6 w - - 0 1", "white has 2 kings" },
      { "4k2P/8/8/8/8/8/8/4K3 w - - 0 1", "a pawn on h8" },
      { "4k3/8/8/8/8/8/8/p3K3 w - - 0 1", "a pawn on a1" },
      { "4k3/pppppppp/p7/8/8/8/8/4K3 w - - 0 1", "black has 9 pawns" },
      { "4k3/8/8/8/8/8/PPPPPPPP/QQQ1K3 w - - 0 1", "2 promoted pieces but only 0 pawns missing" },
      { "4k3/8/8/8/8/8/8/4K3 x - - 0 1", "'w' or 'b'" },
      { "4k3/8/8/8/8/8/8/4K3 W - - 0 1", "'w' or 'b'" },
      { "4k3/8/8/8/8/8/8/4K2R w KX - 0 1", "bad castling field" },
      { "4k3/8/8/8/8/8/8/4K2R w KK - 0 1", "given twice" },
      { "4k3/8/8/8/8/8/8/4K2R w Q - 0 1", "'Q' needs the white king on e1 and a white rook on a1" },
      { "4k3/8/8/8/8/8/8/3K3R w K - 0 1", "'K' needs the white king on e1" },
      { "r3k3/8/8/8/8/8/8/4K3 w k - 0 1", "'k' needs the black king on e8 and a black rook on h8" },
      { "4k2r/8/8/8/8/8/8/4K3 w q - 0 1", "'q' needs" },
      { "4k3/8/8/8/8/8/8/4K2R w H - 0 1", "bad castling field" },
      { "4k3/8/8/8/4P3/8/8/4K3 w - e3 0 1", "on rank 6" },
      { "4k3/8/8/8/4P3/8/8/4K3 b - e4 0 1", "on rank 3" },
      { "4k3/8/8/8/8/8/8/4K3 b - e3 0 1", "no white pawn has just passed it" },
      { "4k3/8/8/8/4P3/8/4P3/4K3 b - e3 0 1", "no white pawn has just passed it" },
      { "4k3/8/8/8/4P3/8/8/4K3 b - e3 1 1", "halfmove clock is not 0" },
      { "4k3/8/8/8/4P3/8/8/4K3 b - z9 0 1", "bad en passant field" },
      { "4k3/8/8/8/8/8/8/4K3 w - - -1 1", "bad halfmove clock" },
      { "4k3/8/8/8/8/8/8/4K3 w - - x 1", "bad halfmove clock" },
      { "4k3/8/8/8/8/8/8/4K3 w - - 0 0", "bad fullmove number" },
      { "4k3/8/8/8/8/8/8/4K3 w - - 0 1.5", "bad fullmove number" },
      { "4k3/4R3/8/8/8/8/8/4K3 w - - 0 1", "black is in check but it is white's turn" },
      { "8/8/8/8/8/8/8/3Kk3 b - - 0 1", "white is in check but it is black's turn" },
      { "4k3/8/8/8/1b6/8/4r1n1/4K3 w - - 0 1", "checked by 3 pieces" },
      { "4k3/8/8/8/8/8/r7/r3K3 w - - 0 1", nil }, -- only one of them checks: legal
      { "4k3/8/8/8/8/8/8/r3K2r w - - 0 1", "two checkers on one line" },
      { "4k3/8/8/8/8/8/5n2/r3K3 w - - 0 1", nil }, -- a double check
      { "4k3/8/8/8/3pP3/8/8/r3K3 b - e3 0 1", "in check but it is black's turn" },
      { "8/8/8/2k5/3Pp3/8/8/4K3 b - d3 0 1", nil },                    -- the pushed pawn checks
      { "8/8/8/k7/3Pp3/8/8/4B1K1 b - d3 0 1", nil },                   -- the push uncovered Be1
      { "8/8/8/k7/3Pp3/8/8/R3K3 b - d3 0 1", "cannot have given it" },  -- Ra1 checked already
      { "8/8/8/2k5/3Pp3/8/8/2R1K3 b - d3 0 1", "cannot have given it" }, -- two checkers
    }
    for _, c in ipairs(bad) do
      if c[2] then
        it(("refuses %q: %s"):format(c[1], c[2]), function()
          local g, err = C.new(c[1])
          assert.is_nil(g)
          assert(err:find(c[2], 1, true), ("'%s' lacks '%s'"):format(err, c[2]))
          local ok, err2 = C.validate_fen(c[1])
          assert.is_nil(ok)
          assert.are.equal(err, err2)
        end)
      else
        it(("accepts %q"):format(c[1]), function()
          assert.truthy(C.new(c[1]))
          assert.is_true(C.validate_fen(c[1]))
        end)
      end
    end

    it("refuses what is not a string", function()
      local g, err = C.new(42)
      assert.is_nil(g)
      assert.are.equal("a FEN is a string", err)
    end)

    it("finishes a game given a position that is already over", function()
      local g = new("7k/5Q2/6K1/8/8/8/8/8 b - - 0 1")
      assert.are.same({ "finished", "1/2-1/2", "stalemate", false }, { g.status, g.result, g.reason, g.check })
      g = new("4R2k/6pp/8/8/8/8/8/6K1 b - - 0 1")
      assert.are.same({ "finished", "1-0", "checkmate", true }, { g.status, g.result, g.reason, g.check })
      g = new("8/8/8/4k3/8/8/8/4K3 w - - 0 1")
      assert.are.same({ "finished", "1/2-1/2", "insufficient_material" }, { g.status, g.result, g.reason })
      g = new("4k3/8/8/8/8/8/8/R3K3 w - - 100 80")
      assert.are.same({ "finished", "1/2-1/2", "fifty_moves" }, { g.status, g.result, g.reason })
      assert.are.same({}, C.legal_moves(g))
    end)
  end)

  describe("FEN after each kind of move", function()
    it("sets the en passant square after every double push, and counts the clocks", function()
      local g = new()
      local fens = {
        { "e2e4", "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq e3 0 1" },
        { "c7c5", "rnbqkbnr/pp1ppppp/8/2p5/4P3/8/PPPP1PPP/RNBQKBNR w KQkq c6 0 2" },
        { "g1f3", "rnbqkbnr/pp1ppppp/8/2p5/4P3/5N2/PPPP1PPP/RNBQKB1R b KQkq - 1 2" },
        { "b8c6", "r1bqkbnr/pp1ppppp/2n5/2p5/4P3/5N2/PPPP1PPP/RNBQKB1R w KQkq - 2 3" },
        { "d2d4", "r1bqkbnr/pp1ppppp/2n5/2p5/3PP3/5N2/PPP2PPP/RNBQKB1R b KQkq d3 0 3" },
        { "c5d4", "r1bqkbnr/pp1ppppp/2n5/8/3pP3/5N2/PPP2PPP/RNBQKB1R w KQkq - 0 4" },
        { "f3d4", "r1bqkbnr/pp1ppppp/2n5/8/3NP3/8/PPP2PPP/RNBQKB1R b KQkq - 0 4" },
        { "a7a6", "r1bqkbnr/1p1ppppp/p1n5/8/3NP3/8/PPP2PPP/RNBQKB1R w KQkq - 0 5" },
        { "c2c4", "r1bqkbnr/1p1ppppp/p1n5/8/2PNP3/8/PP3PPP/RNBQKB1R b KQkq c3 0 5" },
      }
      for _, f in ipairs(fens) do
        local res = play(g, { f[1] })
        assert.are.equal(f[2], res.fen)
        assert.are.equal(f[2], g.fen)
      end
      assert.are.equal(C.START_FEN, g.start_fen)
    end)

    it("loses castling rights when the king or a rook moves or a rook is taken", function()
      local F = "r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1"
      assert.are.equal("r3k2r/8/8/8/8/8/4K3/R6R b kq - 1 1", game(F, { "e1e2" }).fen)
      assert.are.equal("r3k2r/8/8/8/8/8/7R/R3K3 b Qkq - 1 1", game(F, { "h1h2" }).fen)
      assert.are.equal("r3k2r/8/8/8/8/8/R7/4K2R b Kkq - 1 1", game(F, { "a1a2" }).fen)
      assert.are.equal("R3k2r/8/8/8/8/8/8/4K2R b Kk - 0 1", game(F, { "a1a8" }).fen)
      assert.are.equal("r3k2R/8/8/8/8/8/8/R3K3 b Qq - 0 1", game(F, { "h1h8" }).fen)
      assert.are.equal("r3k3/8/8/8/8/8/8/1R2K2r w q - 0 2", game(F, { "a1b1", "h8h1" }).fen)
      -- the king going back home does not bring the rights back
      local g = game(F, { "e1e2", "e8e7", "e2e1", "e7e8" })
      assert.are.equal("r3k2r/8/8/8/8/8/8/R3K2R w - - 4 3", g.fen)
      refused(g, "e1g1", "no right to castle")
    end)

    it("moves the rook when castling, on both sides and for both colours", function()
      local F = "r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1"
      assert.are.equal("r3k2r/8/8/8/8/8/8/R4RK1 b kq - 1 1", game(F, { "e1g1" }).fen)
      assert.are.equal("r3k2r/8/8/8/8/8/8/2KR3R b kq - 1 1", game(F, { "e1c1" }).fen)
      assert.are.equal("2kr3r/8/8/8/8/8/8/R4RK1 w - - 2 2", game(F, { "e1g1", "e8c8" }).fen)
      assert.are.equal("r4rk1/8/8/8/8/8/8/2KR3R w - - 2 2", game(F, { "e1c1", "e8g8" }).fen)
    end)

    it("removes the pawn taken en passant", function()
      local g = game("rnbqkbnr/ppp1p1pp/8/3pPp2/8/8/PPPP1PPP/RNBQKBNR w KQkq f6 0 3", { "e5f6" })
      assert.are.equal("rnbqkbnr/ppp1p1pp/5P2/3p4/8/8/PPPP1PPP/RNBQKBNR b KQkq - 0 3", g.fen)
      assert.are.equal("exf6", g.san[1])
      g = game("4k3/8/8/8/3pP3/8/8/4K3 b - e3 0 1", { "d4e3" })
      assert.are.equal("4k3/8/8/8/8/4p3/8/4K3 w - - 0 2", g.fen)
    end)

    it("promotes to the piece asked for", function()
      local F = "8/P7/8/8/8/8/8/k6K w - - 0 1"
      assert.are.equal("Q7/8/8/8/8/8/8/k6K b - - 0 1", game(F, { "a7a8q" }).fen)
      assert.are.equal("R7/8/8/8/8/8/8/k6K b - - 0 1", game(F, { "a7a8r" }).fen)
      assert.are.equal("B7/8/8/8/8/8/8/k6K b - - 0 1", game(F, { "a7a8b" }).fen)
      assert.are.equal("N7/8/8/8/8/8/8/k6K b - - 0 1", game(F, { "a7a8n" }).fen)
      local g = game("4k3/8/8/8/8/8/1p6/R3K3 b Q - 5 9", { "b2a1n" })
      assert.are.equal("4k3/8/8/8/8/8/8/n3K3 w - - 0 10", g.fen)
      assert.are.equal("bxa1=N", g.san[1])
    end)
  end)

  describe("SAN", function()
    it("writes the Opera game as published", function()
      local s, g = sans(nil, {
        "e2e4", "e7e5", "g1f3", "d7d6", "d2d4", "c8g4", "d4e5", "g4f3", "d1f3", "d6e5", "f1c4",
        "g8f6", "f3b3", "d8e7", "b1c3", "c7c6", "c1g5", "b7b5", "c3b5", "c6b5", "c4b5", "b8d7",
        "e1c1", "a8d8", "d1d7", "d8d7", "h1d1", "e7e6", "b5d7", "f6d7", "b3b8", "d7b8", "d1d8" })
      assert.are.equal("e4 e5 Nf3 d6 d4 Bg4 dxe5 Bxf3 Qxf3 dxe5 Bc4 Nf6 Qb3 Qe7 Nc3 c6 Bg5 b5 " ..
        "Nxb5 cxb5 Bxb5+ Nbd7 O-O-O Rd8 Rxd7 Rxd7 Rd1 Qe6 Bxd7+ Nxd7 Qb8+ Nxb8 Rd8#", s)
      assert.are.equal("1n1Rkb1r/p4ppp/4q3/4p1B1/4P3/8/PPP2PPP/2K5 b k - 1 17", g.fen)
      assert.are.same({ "finished", "1-0", "checkmate", true }, { g.status, g.result, g.reason, g.check })
    end)

    it("disambiguates by file, then rank, then both, only when needed", function()
      assert.are.equal("Nbd2", sans("4k3/8/8/8/8/8/8/1N2KN2 w - - 0 1", { "b1d2" }))
      assert.are.equal("Nfd2", sans("4k3/8/8/8/8/8/8/1N2KN2 w - - 0 1", { "f1d2" }))
      assert.are.equal("Nc3", sans("4k3/8/8/8/8/8/8/1N2KN2 w - - 0 1", { "b1c3" }))
      assert.are.equal("R1a3", sans("4k3/8/8/R7/8/8/8/R3K3 w - - 0 1", { "a1a3" }))
      assert.are.equal("R5a3", sans("4k3/8/8/R7/8/8/8/R3K3 w - - 0 1", { "a5a3" }))
      assert.are.equal("Rae1", sans("3k4/8/8/8/8/8/4K3/R6R w - - 0 1", { "a1e1" }))
      assert.are.equal("Rhe1", sans("3k4/8/8/8/8/8/4K3/R6R w - - 0 1", { "h1e1" }))
      assert.are.equal("Rb1", sans("4k3/8/8/R7/8/8/8/R3K2R w - - 0 1", { "a1b1" }))
      assert.are.equal("Qa1b2", sans("4k3/8/8/8/8/Q7/8/Q1Q1K3 w - - 0 1", { "a1b2" }))
      assert.are.equal("Q3b2", sans("4k3/8/8/8/8/Q7/8/Q1Q1K3 w - - 0 1", { "a3b2" }))
      assert.are.equal("Qcb2", sans("4k3/8/8/8/8/Q7/8/Q1Q1K3 w - - 0 1", { "c1b2" }))
      -- a pinned knight cannot go to c3, so the other needs no file
      assert.are.equal("Nc3", sans("4k3/4r3/8/8/8/8/4N3/1N2K3 w - - 0 1", { "b1c3" }))
      assert.are.equal("Rxe7+", sans("4k3/4r3/8/8/8/8/8/4RK1R w - - 0 1", { "e1e7" }))
      -- black pieces too
      assert.are.equal("Nbd4", sans("4k3/8/8/1n3n2/8/8/8/4K3 b - - 0 1", { "b5d4" }))
      assert.are.equal("Nfd6", sans("4k3/8/8/1n3n2/8/8/8/4K3 b - - 0 1", { "f5d6" }))
    end)

    it("marks captures, pawn captures with their file, checks and mates", function()
      assert.are.equal("e4 d5 exd5 Qxd5 Nc3 Qe5+ Be2 Qxc3",
        sans(nil, { "e2e4", "d7d5", "e4d5", "d8d5", "b1c3", "d5e5", "f1e2", "e5c3" }))
      assert.are.equal("f3 e5 g4 Qh4#", sans(nil, { "f2f3", "e7e5", "g2g4", "d8h4" }))
      assert.are.equal("Kxd2", sans("4k3/8/8/8/8/8/3n4/4KB2 w - - 0 1", { "e1d2" }))
    end)

    it("writes promotions with =, check and mate", function()
      assert.are.equal("e8=Q#", sans("7k/4P3/6K1/8/8/8/8/8 w - - 0 1", { "e7e8q" }))
      assert.are.equal("e8=R#", sans("7k/4P3/6K1/8/8/8/8/8 w - - 0 1", { "e7e8r" }))
      assert.are.equal("e8=B", sans("7k/4P3/6K1/8/8/8/8/8 w - - 0 1", { "e7e8b" }))
      assert.are.equal("e8=N+", sans("8/4P3/3k4/8/8/8/8/K7 w - - 0 1", { "e7e8n" }))
      assert.are.equal("a8=Q+", sans("8/P7/8/8/8/8/8/k6K w - - 0 1", { "a7a8q" }))
      assert.are.equal("dxe8=Q+", sans("4n2k/3P4/8/8/8/8/8/4K3 w - - 0 1", { "d7e8q" }))
      assert.are.equal("dxe8=N", sans("4n2k/3P4/8/8/8/8/8/4K3 w - - 0 1", { "d7e8n" }))
      assert.are.equal("e1=Q+", sans("8/8/8/8/8/8/4p3/k6K b - - 0 1", { "e2e1q" }))
    end)

    it("writes castling as O-O and O-O-O, with check", function()
      assert.are.equal("O-O O-O-O", sans("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1", { "e1g1", "e8c8" }))
      assert.are.equal("O-O+", sans("5k2/8/8/8/8/8/8/4K2R w K - 0 1", { "e1g1" }))
      assert.are.equal("O-O-O+", sans("3k4/8/8/8/8/8/8/R3K3 w Q - 0 1", { "e1c1" }))
      assert.are.equal("O-O-O+", sans("r3k3/8/8/8/8/8/8/3K4 b q - 0 1", { "e8c8" }))
      assert.are.equal("O-O#", sans("4rkr1/4p1p1/8/8/8/8/8/4K2R w K - 0 1", { "e1g1" }))
    end)

    it("san_of names a move without playing it, uci_of reads SAN back", function()
      local g = game("4k3/8/8/8/8/Q7/8/Q1Q1K3 w - - 0 1")
      local before = copy(g)
      assert.are.equal("Qa1b2", C.san_of(g, "a1b2"))
      assert.are.equal("Qcb2", C.san_of(g, "c1b2"))
      assert.are.equal("Qa8+", C.san_of(g, "a3a8"))
      assert.are.same(before, g)
      assert.are.equal("a1b2", C.uci_of(g, "Qa1b2"))
      assert.are.equal("a3a8", C.uci_of(g, "Qa8+"))
      assert.are.equal("a3a8", C.uci_of(g, "Qa8"))
      assert.is_nil(C.uci_of(g, "Qb2"))
      local s, err, why = C.san_of(g, "a1a9")
      assert.is_nil(s)
      assert.are.equal("illegal_move", err)
      assert.truthy(why:find("syntax"))
      local g2 = game(nil, SCHOLAR)
      for i = 1, #g2.moves do
        local replay = game(nil, { table.unpack(g2.moves, 1, i - 1) })
        assert.are.equal(g2.san[i], C.san_of(replay, g2.moves[i]))
        assert.are.equal(g2.moves[i], C.uci_of(replay, g2.san[i]))
      end
      assert.are.equal("e1g1", C.uci_of(game("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1"), "O-O"))
      assert.are.equal("e1c1", C.uci_of(game("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1"), "0-0-0"))
      local p = game("1n5k/P7/8/8/8/8/8/K7 w - - 0 1")
      assert.are.equal("a7a8q", C.uci_of(p, "a8=Q+"))
      assert.are.equal("a7a8n", C.uci_of(p, "a8N"))
      assert.are.equal("a7b8r", C.uci_of(p, "axb8=R+"))
      assert.are.equal("a7b8r", C.uci_of(p, "axb8R"))
      assert.is_nil(C.uci_of(p, "a8"))
    end)
  end)

  describe("illegal moves", function()
    it("refuses bad syntax", function()
      local g = new()
      for _, m in ipairs({ "e2", "e2e9", "i2i4", "e2-e4", "E2E4", "e2e4 ", "e7e8Q", "e2e4x", "0000", "" }) do
        refused(g, m, "syntax")
      end
      refused(g, 42, "string")
      refused(g, nil, "string")
      refused(g, { "e2e4" }, "string")
    end)

    it("refuses a move from an empty square or of the other side's piece", function()
      local g = new()
      refused(g, "e3e4", "no piece on e3")
      refused(g, "e7e5", "the piece on e7 is black's, and it is white's turn")
      play(g, { "e2e4" })
      refused(g, "d2d4", "the piece on d2 is white's, and it is black's turn")
    end)

    it("refuses moves a piece cannot make", function()
      local g = new()
      refused(g, "e2e5", "a pawn does not move so")
      refused(g, "e2d3", "a pawn does not move so") -- a diagonal step without a capture
      refused(g, "a1a3", "a rook does not move so") -- blocked
      refused(g, "b1b3", "a knight does not move so")
      refused(g, "c1e3", "a bishop does not move so")
      refused(g, "d1d1", "not a legal move")
      refused(g, "a1a2", "a2 holds one of your own pieces")
      refused(g, "e1f1", "f1 holds one of your own pieces")
      refused(g, "e1e3", "a king does not move so")
      play(g, { "e2e4", "e7e5" })
      refused(g, "e4e5", "a pawn does not move so") -- pushes cannot capture
      refused(g, "e4e6", "a pawn does not move so")
      refused(g, "e1e3", "a king does not move so")
      local p = new("4k3/8/8/8/8/4P3/8/4K3 w - - 0 1")
      refused(p, "e3e5", "a pawn does not move so") -- a double push from rank 3
      refused(p, "e3e2", "a pawn does not move so") -- backwards
      p = new("4k3/8/8/8/8/4p3/4P3/4K3 w - - 0 1")
      refused(p, "e2e4", "a pawn does not move so") -- jumping over a piece
    end)

    it("refuses an en passant capture once the chance is gone", function()
      local g = game(nil, { "e2e4", "a7a6", "e4e5", "d7d5" })
      assert.truthy(C.is_legal(g, "e5d6"))
      play(g, { "h2h3", "h7h6" })
      refused(g, "e5d6", "a pawn does not move so")
    end)

    it("refuses castling without the right, through pieces, out of, through or into check", function()
      refused(new(), "e1g1", "castling needs f1 empty")
      refused(game(nil, { "g1f3", "g8f6", "g2g3", "g7g6", "f1h3", "f8h6", "b1c3" }), "e8c8", "castling needs d8 empty")
      refused(new("4k3/8/8/8/8/8/8/R3K2R w - - 0 1"), "e1g1", "white has no right to castle king-side")
      refused(new("4k3/8/8/8/8/8/8/R3K2R w K - 0 1"), "e1c1", "white has no right to castle queen-side")
      refused(new("r3k2r/8/8/8/8/8/8/4K3 b k - 0 1"), "e8c8", "black has no right to castle queen-side")
      refused(new("4k3/8/8/8/8/8/8/RN2K2R w KQ - 0 1"), "e1c1", "castling needs b1 empty")
      refused(new("4k3/4r3/8/8/8/8/8/R3K2R w KQ - 0 1"), "e1g1", "e1g1: castling out of check")
      refused(new("4k3/4r3/8/8/8/8/8/R3K2R w KQ - 0 1"), "e1c1", "e1c1: castling out of check")
      refused(new("4k3/5r2/8/8/8/8/8/R3K2R w KQ - 0 1"), "e1g1", "e1g1: castling through check")
      refused(new("4k3/3r4/8/8/8/8/8/R3K2R w KQ - 0 1"), "e1c1", "e1c1: castling through check")
      refused(new("4k3/6r1/8/8/8/8/8/R3K2R w KQ - 0 1"), "e1g1", "e1g1: castling into check")
      refused(new("4k3/2r5/8/8/8/8/8/R3K2R w KQ - 0 1"), "e1c1", "e1c1: castling into check")
    end)

    it("lets the queen-side rook pass an attacked square (b1 need only be empty)", function()
      local g = new("4k3/1r6/8/8/8/8/8/R3K2R w KQ - 0 1")
      assert.truthy(C.is_legal(g, "e1c1"))
      g = new("r3k2r/8/8/8/8/8/8/1R2K3 b kq - 0 1")
      assert.truthy(C.is_legal(g, "e8c8"))
      assert.truthy(C.is_legal(g, "e8g8"))
      -- nor does an attack on the rook
      g = new("4k3/8/8/8/8/8/7r/R3K2R w KQ - 0 1")
      assert.is_true(C.is_legal(g, "e1g1"))
    end)

    it("wants a promotion letter on the last rank, and none elsewhere", function()
      local g = new("8/4P3/8/8/8/8/8/k6K w - - 0 1")
      refused(g, "e7e8", "e7e8: promotion needs a piece letter")
      refused(g, "e7e8k", "syntax")
      refused(g, "e7e8p", "syntax")
      refused(g, "h1h2q", "only a pawn reaching the last rank takes a promotion letter")
      g = new()
      refused(g, "e2e4q", "only a pawn reaching the last rank takes a promotion letter")
      refused(g, "g1f3n", "only a pawn reaching the last rank takes a promotion letter")
      g = new("r3k3/8/8/8/8/8/8/4K3 b q - 0 1")
      refused(g, "e8c8q", "only a pawn reaching the last rank takes a promotion letter")
    end)

    it("refuses moving a pinned piece off its line, but lets it move along it", function()
      local g = new("4k3/4r3/8/8/8/8/4R3/4K3 w - - 0 1")
      refused(g, "e2d2", "e2d2: pinned piece")
      assert.truthy(C.is_legal(g, "e2e7"))
      assert.truthy(C.is_legal(g, "e2e4"))
      g = new("4k3/8/8/8/8/8/3N4/2K1r3 w - - 0 1") -- nothing pinned: the rook checks the king
      refused(g, "d2c4", "king would be in check")
      g = new("4k3/8/8/b7/8/8/3N4/4K3 w - - 0 1")
      refused(g, "d2f3", "pinned piece")
      g = new("4k3/8/8/b7/8/8/3P4/4K3 w - - 0 1")
      refused(g, "d2d3", "pinned piece")
      g = new("4k3/8/8/8/8/2b5/3P4/4K3 w - - 0 1")
      assert.truthy(C.is_legal(g, "d2c3")) -- capturing the pinner along the line
      refused(g, "d2d3", "pinned piece")
    end)

    it("refuses a king move into check, and a move that leaves the check", function()
      local g = new("4k3/8/8/8/8/8/r7/4K3 w - - 0 1")
      refused(g, "e1e2", "e1e2: king would be in check")
      refused(g, "e1d2", "king would be in check")
      assert.truthy(C.is_legal(g, "e1f1"))
      g = new("4k3/8/8/8/8/8/3B4/r3K3 w - - 0 1")
      assert.is_true(g.check)
      refused(g, "d2e3", "king would be in check")
      assert.truthy(C.is_legal(g, "d2c1")) -- blocks
      refused(g, "e1f1", "king would be in check") -- along the checking line
      -- the king cannot hide behind itself from a slider
      g = new("4k3/8/8/8/8/8/8/r3K3 w - - 0 1")
      refused(g, "e1f1", "king would be in check")
      -- a king next to the other king
      g = new("8/8/8/8/8/3k4/8/R3K3 w - - 0 1")
      refused(g, "e1e2", "king would be in check")
      -- a protected piece cannot be taken by the king
      g = new("4k3/8/8/8/8/5p2/4p3/4K3 w - - 0 1")
      refused(g, "e1e2", "king would be in check")
      assert.truthy(C.is_legal(g, "e1d2"))
      assert.truthy(C.is_legal(g, "e1f2"))
    end)

    it("allows only king moves in double check", function()
      local g = new("4k3/8/8/rB6/8/8/8/4RK2 b - - 0 1")
      assert.are.same({ "e8d8", "e8f7", "e8f8" }, C.legal_moves(g))
      refused(g, "a5b5", "king would be in check")
      g = new("4k3/8/8/1B6/8/8/8/r3RK2 b - - 0 1")
      assert.are.same({ "e8d8", "e8f7", "e8f8" }, C.legal_moves(g))
      refused(g, "a1e1", "king would be in check")
    end)

    it("refuses the en passant capture that uncovers the king along the rank", function()
      local g = new("8/8/8/KPp4r/8/8/8/6k1 w - c6 0 2")
      refused(g, "b5c6", "king would be in check")
      assert.truthy(C.is_legal(g, "b5b6"))
      g = new("8/8/8/8/k2Pp2Q/8/8/3K4 b - d3 0 1")
      refused(g, "e4d3", "king would be in check")
      -- and allows the one that takes the checking pawn
      g = new("8/8/8/3k4/1p6/8/2P5/4K3 w - - 0 1")
      play(g, { "c2c4" })
      assert.is_true(g.check)
      assert.truthy(C.is_legal(g, "b4c3"))
      assert.truthy(C.is_legal(g, "d5c4"))
      refused(g, "b4b3", "king would be in check")
    end)

    it("refuses every move once the game is over", function()
      local g = game(nil, SCHOLAR)
      refused(g, "e8f7", "the game is over (checkmate)", "game_over")
      refused(g, "a7a6", "game is over", "game_over")
      assert.are.same({}, C.legal_moves(g))
      assert.is_false(C.is_legal(g, "a7a6"))
      local s, err = C.san_of(g, "a7a6")
      assert.is_nil(s)
      assert.are.equal("game_over", err)
    end)

    it("answers invalid_state for a game whose FEN is broken", function()
      local g = new()
      g.fen = "nonsense"
      local res, err, why = C.move(g, "e2e4")
      assert.is_nil(res)
      assert.are.equal("invalid_state", err)
      assert.truthy(why:find("g.fen"))
    end)
  end)

  describe("the end of a game", function()
    it("checkmate: Scholar's mate and Fool's mate", function()
      local g = game(nil, SCHOLAR)
      assert.are.same({ "finished", "1-0", "checkmate", true, "black" }, { g.status, g.result, g.reason, g.check, g.turn })
      g = game(nil, { "f2f3", "e7e5", "g2g4" })
      local res = play(g, { "d8h4" })
      assert.are.same({ uci = "d8h4", san = "Qh4#", fen = "rnb1kbnr/pppp1ppp/8/4p3/6Pq/5P2/PPPPP2P/RNBQKBNR w KQkq - 1 3",
        status = "finished", result = "0-1", reason = "checkmate", check = true }, res)
    end)

    it("stalemate", function()
      local g = new("7k/4Q3/6K1/8/8/8/8/8 w - - 0 1")
      local res = play(g, { "e7f7" })
      assert.are.same({ "finished", "1/2-1/2", "stalemate", false }, { res.status, res.result, res.reason, res.check })
      assert.are.equal("Qf7", res.san)
      assert.are.same({}, C.legal_moves(g))
      -- stalemate with a pawn left that cannot move
      g = new("7k/8/8/8/8/p7/P7/Kb1q4 w - - 0 1")
      assert.are.same({ "finished", "stalemate" }, { g.status, g.reason })
    end)

    it("threefold repetition, counted when the third occurrence appears", function()
      local g = new()
      local cycle = { "g1f3", "g8f6", "f3g1", "f6g8" }
      play(g, cycle)
      play(g, { "g1f3", "g8f6", "f3g1" })
      assert.are.equal("playing", g.status)
      local res = play(g, { "f6g8" })
      assert.are.same({ "finished", "1/2-1/2", "threefold" }, { res.status, res.result, res.reason })
      assert.are.equal(9, #g.history)
      assert.are.equal(g.history[1], g.history[5])
      assert.are.equal(g.history[1], g.history[9])
      refused(g, "e2e4", "threefold", "game_over")
    end)

    it("threefold: positions apart from the move order still repeat (different routes)", function()
      local g = new()
      play(g, { "g1f3", "g8f6", "b1c3", "b8c6", "c3b1", "c6b8", "f3g1", "f6g8" }) -- start, 2nd time
      play(g, { "b1c3", "b8c6", "g1f3", "g8f6", "f3g1", "f6g8", "c3b1" })
      assert.are.equal("playing", g.status)
      assert.are.equal("threefold", play(g, { "c6b8" }).reason)
    end)

    it("threefold: an en passant square that no pawn can use does not count", function()
      -- after 1.e4 the FEN has e3, yet the position is the same as after 3.Ng1
      local g = new()
      play(g, { "e2e4" })
      assert.truthy(g.fen:find(" e3 ", 1, true))
      play(g, { "g8f6", "g1f3", "f6g8", "f3g1", "g8f6", "g1f3", "f6g8" })
      assert.are.equal("playing", g.status)
      assert.are.equal("threefold", play(g, { "f3g1" }).reason)
      -- the same when a pawn could take but is pinned
      g = new("3k4/8/8/8/3p4/8/4P3/3RK3 w - - 0 1")
      play(g, { "e2e4", "d8d7", "e1f1", "d7d8", "f1e1", "d8d7", "e1f1", "d7d8" })
      assert.are.equal("playing", g.status)
      assert.are.equal("threefold", play(g, { "f1e1" }).reason)
    end)

    it("threefold: an en passant capture that is possible makes the position different", function()
      local g = new("4k3/8/8/8/3p4/8/4P3/4K3 w - - 0 1")
      play(g, { "e2e4" }) -- d4xe3 is possible here
      assert.are.equal("4k3/8/8/8/3pP3/8/8/4K3 b - e3", g.history[2])
      play(g, { "e8e7", "e1d1", "e7e8", "d1e1", "e8e7", "e1d1", "e7e8", "d1e1" })
      -- the position after 1.e4 (ep possible) and the same one twice without: no threefold yet
      assert.are.equal(g.history[6], g.history[10])
      assert.are_not.equal(g.history[2], g.history[6])
      assert.are.equal("playing", g.status)
      -- the king on e7 comes back a third time: that one is a threefold
      assert.are.equal("threefold", play(g, { "e8e7" }).reason)
    end)

    it("fifty-move rule at exactly 100 half-moves, unless the move mates", function()
      local g = new("4k3/8/8/8/8/8/8/R3K3 w - - 98 80")
      play(g, { "a1a2" })
      assert.are.equal("playing", g.status)
      assert.truthy(g.fen:find(" 99 80$"))
      local res = play(g, { "e8e7" })
      assert.are.same({ "finished", "1/2-1/2", "fifty_moves" }, { res.status, res.result, res.reason })
      assert.truthy(res.fen:find(" 100 81$"))
      -- a pawn move or a capture on the 100th half-move resets the clock
      g = new("4k3/8/8/8/8/8/P7/4K3 w - - 99 80")
      play(g, { "a2a3" })
      assert.are.equal("playing", g.status)
      assert.truthy(g.fen:find(" 0 80$"))
      g = new("4k3/8/8/8/8/8/r7/R3K3 w - - 99 80")
      play(g, { "a1a2" })
      assert.are.equal("playing", g.status)
      assert.truthy(g.fen:find(" 0 80$"))
      -- checkmate on the 100th half-move stands
      g = new("k7/8/1K6/8/8/8/8/7R w - - 99 80")
      res = play(g, { "h1h8" })
      assert.are.same({ "finished", "1-0", "checkmate" }, { res.status, res.result, res.reason })
    end)

    describe("insufficient material", function()
      local dead = {
        { "K v K", "8/8/8/4k3/8/8/8/4K3 w - - 0 1" },
        { "K+B v K", "8/8/8/4k3/8/8/8/2B1K3 w - - 0 1" },
        { "K v K+B", "8/8/8/4k3/8/8/8/2b1K3 w - - 0 1" },
        { "K+N v K", "8/8/8/4k3/8/8/8/1N2K3 w - - 0 1" },
        { "K v K+N", "8/8/8/4k3/8/8/8/1n2K3 b - - 0 1" },
        { "K+B v K+B, bishops on dark squares", "5b2/8/8/4k3/8/8/8/2B1K3 w - - 0 1" },
        { "K+B v K+B, bishops on light squares", "2b5/8/8/4k3/8/8/8/4KB2 w - - 0 1" },
        { "K+B+B v K, both bishops on light squares", "8/8/8/4k3/8/8/8/3BKB2 w - - 0 1" },
      }
      for _, c in ipairs(dead) do
        it("ends " .. c[1], function()
          local g = new(c[2])
          assert.are.same({ "finished", "1/2-1/2", "insufficient_material" }, { g.status, g.result, g.reason })
          assert.is_true(C.insufficient_material(g))
          assert.is_false(C.can_mate(g, "white"))
          assert.is_false(C.can_mate(g, "black"))
        end)
      end
      local alive = {
        { "K+B v K+B on opposite colours", "2b5/8/8/4k3/8/8/8/2B1K3 w - - 0 1" },
        { "K+N+N v K", "8/8/8/4k3/8/8/8/1N2K1N1 w - - 0 1" },
        { "K+B v K+N", "8/8/8/4k3/8/8/8/1n2KB2 w - - 0 1" },
        { "K+N v K+N", "8/8/8/4k3/8/8/8/1n2K1N1 w - - 0 1" },
        { "K+B+B v K on both colours", "8/8/8/4k3/8/8/8/2B1KB2 w - - 0 1" },
        { "K+B+N v K", "8/8/8/4k3/8/8/8/1N2KB2 w - - 0 1" },
        { "K+P v K", "8/8/8/4k3/8/8/4P3/4K3 w - - 0 1" },
        { "K+R v K", "8/8/8/4k3/8/8/8/4K2R w - - 0 1" },
        { "K+Q v K", "8/8/8/4k3/8/8/8/3QK3 w - - 0 1" },
      }
      for _, c in ipairs(alive) do
        it("plays on with " .. c[1], function()
          local g = new(c[2])
          assert.are.equal("playing", g.status)
          assert.is_false(C.insufficient_material(g))
        end)
      end

      it("ends the game on the capture that leaves too little", function()
        local g = new("4k3/8/8/8/8/8/3n4/4KB2 w - - 0 1")
        local res = play(g, { "e1d2" })
        assert.are.same({ "finished", "1/2-1/2", "insufficient_material" }, { res.status, res.result, res.reason })
        g = new("4k3/8/8/8/8/8/8/2B1Kn2 w - - 0 1") -- K+B v K+N: the capture of the knight ends it
        assert.are.equal("playing", g.status)
        assert.are.equal("insufficient_material", play(g, { "e1f1" }).reason)
      end)
    end)

    it("can_mate: a lone king, K+B or K+N cannot; anything more can", function()
      local function cm(fen, color) return C.can_mate(new(fen), color) end
      assert.is_false(cm("4k3/8/8/8/8/8/8/R3K3 w - - 0 1", "black"))
      assert.is_true(cm("4k3/8/8/8/8/8/8/R3K3 w - - 0 1", "white"))
      assert.is_false(cm("4k3/pppppppp/8/8/8/8/8/2B1K3 w - - 0 1", "white"))
      assert.is_false(cm("4k3/pppppppp/8/8/8/8/8/1N2K3 w - - 0 1", "white"))
      assert.is_true(cm("4k3/pppppppp/8/8/8/8/8/1N2K3 w - - 0 1", "black"))
      assert.is_true(cm("4k3/8/8/8/8/8/8/1NN1K3 w - - 0 1", "white"))
      assert.is_true(cm("4k3/8/8/8/8/8/8/1NB1K3 w - - 0 1", "white"))
      assert.is_true(cm("4k3/8/8/8/8/8/4P3/4K3 w - - 0 1", "white"))
      assert.is_true(cm("4k3/8/8/8/8/8/8/3QK3 w - - 0 1", "white"))
      assert.is_true(cm("4k3/8/8/8/8/8/8/2B1KB2 w - - 0 1", "white")) -- both colours
      assert.is_false(cm("4k3/8/8/8/8/8/8/3BKB2 w - - 0 1", "white")) -- same colour: dead
      assert.is_false(cm("4k3/1b6/8/8/8/8/8/2B1K3 w - - 0 1", "white")) -- K+B, even against a bishop
      assert.is_nil(C.can_mate(new(), "green"))
    end)
  end)

  describe("the game as data", function()
    it("stays plain JSON-able data and replays from its moves", function()
      local moves = { "e2e4", "e7e5", "g1f3", "b8c6", "f1b5", "a7a6", "b5c6", "d7c6", "e1g1", "f7f6",
        "d2d4", "e5d4", "f3d4", "c6c5", "d4e2", "d8d1", "f1d1", "c8d7", "b1c3", "e8c8" }
      local g = game(nil, moves)
      assert.are.equal("2kr1bnr/1ppb2pp/p4p2/2p5/4P3/2N5/PPP1NPPP/R1BR2K1 w - - 3 11", g.fen)
      local r = assert(C.replay(g.moves))
      assert.are.same(g, r)
      local bad, err, why = C.replay({ "e2e4", "e2e4" })
      assert.is_nil(bad)
      assert.are.equal("illegal_move", err)
      assert.truthy(why:find("move 2"))
      assert.are.same(g.history, (C.replay(moves)).history)
      assert.are.equal(#g.moves + 1, #g.history)
      assert.are.equal(#g.moves, #g.san)
    end)

    it("keeps playing after a JSON round trip, as the original would", function()
      local g = game(nil, { "e2e4", "e7e5", "g1f3", "g8f6", "f3g1", "f6g8" })
      local j = decode(encode(g))
      assert.are.same(g, j)
      assert.are.same(C.legal_moves(g), C.legal_moves(j))
      local rest = { "g1f3", "g8f6", "f3g1" }
      play(g, rest)
      play(j, rest)
      assert.are.same(g, j)
      assert.are.equal("playing", j.status)
      local a, b = play(g, { "f6g8" }), play(j, { "f6g8" })
      assert.are.same(a, b)
      assert.are.equal("threefold", b.reason) -- the history came along
      -- a copy in the middle of a game has its own board
      local x = game(nil, { "d2d4" })
      local y = copy(x)
      play(x, { "d7d5" })
      play(y, { "g8f6" })
      assert.are_not.equal(x.fen, y.fen)
      assert.truthy(C.is_legal(y, "c2c4"))
      assert.truthy(C.is_legal(x, "c2c4"))
    end)

    it("rebuilds its board when the FEN changed under it", function()
      local g = new()
      play(g, { "e2e4" })
      local other = game(nil, { "d2d4" })
      g.fen, g.moves, g.san, g.history, g.turn = other.fen, other.moves, other.san, other.history, other.turn
      assert.truthy(C.is_legal(g, "d7d5"))
      play(g, { "d7d5", "c2c4" })
      assert.are.equal("rnbqkbnr/ppp1pppp/8/3p4/2PP4/8/PP2PPPP/RNBQKBNR b KQkq c3 0 2", g.fen)
    end)

    it("legal_moves is sorted and is exactly what move accepts", function()
      local g = new("r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1")
      local list = C.legal_moves(g)
      assert.are.equal(48, #list)
      for i = 2, #list do assert.is_true(list[i - 1] < list[i]) end
      for _, m in ipairs(list) do
        local c = copy(g)
        assert.truthy(C.move(c, m))
      end
      local set = {}
      for _, m in ipairs(list) do set[m] = true end
      local files, ranks, promos = "abcdefgh", "12345678", { "", "q" }
      local n = 0
      for f1 = 1, 8 do for r1 = 1, 8 do for f2 = 1, 8 do for r2 = 1, 8 do
        for _, p in ipairs(promos) do
          local m = files:sub(f1, f1) .. ranks:sub(r1, r1) .. files:sub(f2, f2) .. ranks:sub(r2, r2) .. p
          if not set[m] then
            n = n + 1
            if n % 7 == 0 then refused(g, m) else assert.is_false(C.is_legal(g, m)) end
          end
        end
      end end end end
    end)

    it("piece_count and material", function()
      local g = new()
      assert.are.same({ white = { p = 8, n = 2, b = 2, r = 2, q = 1, k = 1 },
                        black = { p = 8, n = 2, b = 2, r = 2, q = 1, k = 1 } }, C.piece_count(g))
      assert.are.same({ white = 39, black = 39 }, C.material(g))
      play(g, { "e2e4", "d7d5", "e4d5" })
      assert.are.same({ white = 39, black = 38 }, C.material(g))
    end)
  end)

  describe("PGN", function()
    it("writes Scholar's mate exactly", function()
      local g = game(nil, SCHOLAR)
      assert.are.equal([[
[Event "?"]
[Site "?"]
[Date "????.??.??"]
[Round "?"]
[White "?"]
[Black "?"]
[Result "1-0"]

1. e4 e5 2. Bc4 Nc6 3. Qh5 Nf6 4. Qxf7# 1-0
]], C.pgn(g))
    end)

    it("takes tags, escapes them, and sorts the extra ones after the seven", function()
      local g = game(nil, { "e2e4", "e7e5" })
      assert.are.equal([[
[Event "Club \"open\""]
[Site "Paris"]
[Date "2024.05.01"]
[Round "3"]
[White "A \\ B"]
[Black "C"]
[Result "*"]
[Annotator "x"]
[TimeControl "300+2"]

1. e4 e5 *
]], C.pgn(g, { Event = 'Club "open"', Site = "Paris", Date = "2024.05.01", Round = 3,
              White = "A \\ B", Black = "C", TimeControl = "300+2", Annotator = "x", ["bad tag"] = "no" }))
      -- a result given for an unfinished game (resignation, time) is written; a finished game's wins
      assert.truthy(C.pgn(g, { Result = "0-1" }):find('%[Result "0%-1"%].*e5 0%-1\n$'))
      assert.truthy(C.pgn(game(nil, SCHOLAR), { Result = "0-1" }):find("Qxf7# 1%-0\n$"))
      assert.truthy(C.pgn(new()):find("\n\n%*\n$"))
    end)

    it("adds SetUp and FEN for another start, and numbers a game that black begins", function()
      local fen = "r3k2r/8/8/8/8/8/8/R3K2R b KQkq - 4 30"
      local g = game(fen, { "e8g8", "e1c1", "f8f1" })
      assert.are.equal([[
[Event "?"]
[Site "?"]
[Date "????.??.??"]
[Round "?"]
[White "?"]
[Black "?"]
[Result "*"]
[FEN "r3k2r/8/8/8/8/8/8/R3K2R b KQkq - 4 30"]
[SetUp "1"]

30... O-O 31. O-O-O Rf1 *
]], C.pgn(g))
    end)

    it("wraps long movetext under 80 columns", function()
      local moves = {}
      local cycle = { "g1f3", "g8f6", "b1c3", "b8c6", "c3b1", "c6b8", "f3g1", "f6g8" }
      local g = new()
      play(g, { "e2e4", "e7e5" })
      for _, m in ipairs(cycle) do moves[#moves + 1] = m end
      play(g, moves)
      play(g, { "d2d4", "d7d5", "c2c4", "c7c6", "b2b3", "b7b6", "a2a3", "a7a6", "h2h3", "h7h6" })
      local body = C.pgn(g):match("\n\n(.*)$")
      local lines, tokens = 0, {}
      for line in body:gmatch("[^\n]+") do
        lines = lines + 1
        assert.is_true(#line <= 80)
      end
      assert.is_true(lines >= 2)
      for tok in body:gmatch("%S+") do
        if not tok:match("^%d+%.$") and tok ~= "*" then tokens[#tokens + 1] = tok end
      end
      assert.are.same(g.san, tokens)
    end)
  end)

  describe("the sandbox", function()
    it("loads with only the sandbox's globals, and writes none", function()
      local allowed = { "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
        "rawlen", "rawset", "select", "setmetatable", "getmetatable", "tonumber", "tostring", "type",
        "xpcall", "_VERSION", "string", "table", "math", "utf8" }
      local env = {}
      for _, k in ipairs(allowed) do env[k] = _G[k] end
      local loaded = {}
      env.require = function(name)
        if loaded[name] == nil then
          assert(name:match("^[%w_]+$"), "bad module name")
          local chunk = assert(loadfile("lua/apps/games/" .. name .. ".lua", "t", env))
          loaded[name] = chunk(name) or true
        end
        return loaded[name]
      end
      setmetatable(env, {
        __index = function(_, k) error("reads the global " .. tostring(k), 2) end,
        __newindex = function(_, k) error("writes the global " .. tostring(k), 2) end,
      })
      local S = env.require("chess_rules")
      local g = assert(S.new())
      for _, m in ipairs(SCHOLAR) do assert(S.move(g, m)) end
      assert.are.equal("checkmate", g.reason)
      assert.are.equal(8902, S.perft(S.START_FEN, 3))
      assert.truthy(S.pgn(g):find("Qxf7#"))
      assert.truthy(S.san_of(assert(S.new()), "g1f3"))
      assert.is_nil(S.new("x"))
      assert.is_false(S.can_mate(assert(S.new("8/8/8/4k3/8/8/8/4K3 w - - 0 1")), "white"))
    end)
  end)
end)

-- Perft of the chess rules (lua/apps/games/chess_rules.lua, chess_movegen.lua): the node
-- counts of the published test positions. A wrong count means a broken move generator.
package.path = "lua/apps/games/?.lua;" .. package.path
local C = require("chess_rules")

local KIWIPETE = "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1"

local function perft_cases(name, fen, counts)
  describe(name, function()
    for d, want in ipairs(counts) do
      it(("to depth %d: %d"):format(d, want), function()
        assert.are.equal(want, C.perft(fen, d))
      end)
    end
  end)
end

describe("chess perft", function()
  perft_cases("the start position", C.START_FEN, { 20, 400, 8902, 197281 })
  perft_cases("kiwipete", KIWIPETE, { 48, 2039, 97862 })
  perft_cases("position 3", "8/2p5/3p4/KP5r/1R3p1k/8/4P1P1/8 w - - 0 1", { 14, 191, 2812, 43238 })
  perft_cases("position 4", "r3k2r/Pppp1ppp/1b3nbN/nP6/BBP1P3/q4N2/Pp1P2PP/R2Q1RK1 w kq - 0 1", { 6, 264, 9467 })
  perft_cases("position 4 mirrored", "r2q1rk1/pP1p2pp/Q4n2/bbp1p3/Np6/1B3NBn/pPPP1PPP/R3K2R b KQ - 0 1", { 6, 264, 9467 })
  perft_cases("position 5", "rnbq1k1r/pp1Pbppp/2p5/8/2B5/8/PPP1NnPP/RNBQK2R w KQ - 1 8", { 44, 1486, 62379 })
  -- Steven Edwards' position 6 as published (a black bishop on g4, the white pawn on a3)
  perft_cases("position 6", "r4rk1/1pp1qppp/p1np1n2/2b1p1B1/2B1P1b1/P1NP1N2/1PP1QPPP/R4RK1 w - - 0 10",
    { 46, 2079, 89890 })

  it("position 6 without the g4 bishop and with a2 for a3 has 45 moves, each listed by hand", function()
    -- the FEN often quoted for position 6 by mistake; its 46/2079/89890 are not its counts
    local g = assert(C.new("r4rk1/1pp1qppp/p1np1n2/2b1p1B1/2B1P3/2NP1N2/PPP1QPPP/R4RK1 w - - 0 10"))
    local want = {
      "a1b1", "a1c1", "a1d1", "a1e1", "f1b1", "f1c1", "f1d1", "f1e1", -- rooks
      "c3a4", "c3b1", "c3b5", "c3d1", "c3d5", "f3d2", "f3d4", "f3e1", "f3e5", "f3h4", -- knights
      "c4a6", "c4b3", "c4b5", "c4d5", "c4e6", "c4f7", -- Bc4
      "g5c1", "g5d2", "g5e3", "g5f4", "g5f6", "g5h4", "g5h6", -- Bg5
      "e2d1", "e2d2", "e2e1", "e2e3", "g1h1", -- queen, king
      "a2a3", "a2a4", "b2b3", "b2b4", "d3d4", "g2g3", "g2g4", "h2h3", "h2h4", -- pawns
    }
    table.sort(want)
    assert.are.same(want, C.legal_moves(g))
    assert.are.equal(45, C.perft(g, 1))
  end)

  -- Martin Sedlak's perft suite: positions built around one rule each.
  describe("special cases", function()
    local cases = {
      { "illegal en passant: the capture would expose the king", "3k4/3p4/8/K1P4r/8/8/8/8 b - - 0 1", 6, 1134888 },
      { "illegal en passant: a pinned pawn", "8/8/4k3/8/2p5/8/B2P2K1/8 w - - 0 1", 6, 1015133 },
      { "en passant that gives check", "8/8/1k6/2b5/2pP4/8/5K2/8 b - d3 0 1", 6, 1440467 },
      { "short castling that gives check", "5k2/8/8/8/8/8/8/4K2R w K - 0 1", 6, 661072 },
      { "long castling that gives check", "3k4/8/8/8/8/8/8/R3K3 w Q - 0 1", 6, 803711 },
      { "castling rights lost", "r3k2r/1b4bq/8/8/8/8/7B/R3K2R w KQkq - 0 1", 4, 1274206 },
      { "castling prevented", "r3k2r/8/3Q4/8/8/5q2/8/R3K2R b KQkq - 0 1", 4, 1720476 },
      { "promotion out of check", "2K2r2/4P3/8/8/8/8/8/3k4 w - - 0 1", 6, 3821001 },
      { "discovered check", "8/8/1P2K3/8/2n5/1q6/8/5k2 b - - 0 1", 5, 1004658 },
      { "promotion that gives check", "4k3/1P6/8/8/8/8/K7/8 w - - 0 1", 6, 217342 },
      { "underpromotion that gives check", "8/P1k5/K7/8/8/8/8/8 w - - 0 1", 6, 92683 },
      { "self stalemate", "K1k5/8/P7/8/8/8/8/8 w - - 0 1", 6, 2217 },
      { "stalemate and checkmate", "8/k1P5/8/1K6/8/8/8/8 w - - 0 1", 7, 567584 },
      { "stalemate and checkmate (2)", "8/8/2k5/5q2/5n2/8/5K2/8 b - - 0 1", 4, 23527 },
    }
    for _, c in ipairs(cases) do
      it(("%s: %d nodes at depth %d"):format(c[1], c[4], c[3]), function()
        assert.are.equal(c[4], C.perft(c[2], c[3]))
      end)
    end
  end)

  describe("C.perft", function()
    it("takes a game as well as a FEN, and leaves the game as it was", function()
      local g = assert(C.new(KIWIPETE))
      assert(C.move(g, "e1g1"))
      local fen = g.fen
      assert.are.equal(C.perft(fen, 2), C.perft(g, 2))
      assert.are.equal(fen, g.fen)
      assert.are.same(C.legal_moves(assert(C.new(fen))), C.legal_moves(g))
      assert(C.move(g, "e8c8"))
    end)

    it("counts 1 at depth 0 and refuses a bad FEN or depth", function()
      assert.are.equal(1, C.perft(C.START_FEN, 0))
      local n, err = C.perft("8/8/8/8/8/8/8/8 w - - 0 1", 1)
      assert.is_nil(n)
      assert.truthy(err:find("king"))
      assert.is_nil((C.perft(C.START_FEN, -1)))
      assert.is_nil((C.perft(C.START_FEN, 1.5)))
    end)

    it("agrees with the number of legal moves in every position of a game", function()
      local g = assert(C.new(KIWIPETE))
      for _, m in ipairs({ "e5f7", "e7f7", "d5e6", "d7e6", "e1c1", "e8g8", "a2a4", "b4a3" }) do
        assert.are.equal(#C.legal_moves(g), C.perft(g, 1))
        assert(C.move(g, m))
      end
      assert.are.equal(#C.legal_moves(g), C.perft(g, 1))
    end)
  end)
end)

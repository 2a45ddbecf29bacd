-- The games app: moonbar's room service with its games. Each game is a module of this folder
-- that defines a room kind; rules live in modules of their own (goose_rules.lua,
-- tictactoe_rules.lua) so that busted tests them alone. Editing any file of this folder
-- reloads the app in place: rooms, seats, clocks and turns carry on (docs/games.md).
local rooms = require("moonbar.rooms")

require("lobby")
require("goose")
require("tictactoe")
require("chess")

rooms.start({ lobby = "lobby", lobby_kind = "chat" })

-- The lobby (kind "chat"): presence and chat for everyone, always there. The room service
-- gives every room its chat, whispers and presence; a chat room is just a room without a game.
local rooms = require("moonbar.rooms")

rooms.kind("chat", {
  open = true,          -- members come and go at any time
  max_players = 1000,
  reconnect_s = 30,
  hidden = true,        -- not created by clients: the lobby is made at start
  init = function() return { topic = "Welcome to the moonbar lobby" } end,
})

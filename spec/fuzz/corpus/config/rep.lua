return { y = string.rep("y", 1e8), x = string.rep("x", 1e10) }

--[[
  Milliseconds since the epoch on the Redis server's clock, as a decimal string.
  Every landing time is taken from one clock (the server's), so stuck-work
  detection compares like with like whatever machine the consumer runs on.
]]
local function nowMs()
  local t = redis.call("TIME")
  return string.format("%.0f", tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end

--[[
  Deletes every aggregation key of one batch-run (for replays and tests): the plan, the
  meta, owner, emitted and landing-time hashes and every group's member set.

  Input:
    KEYS[1..6]  plan, meta, owner, emitted, first, last (as in land_proof.lua); group sets are
                named from KEYS[1] as in batch_progress.lua

  Output: the number of keys deleted.
]]
local planKey = KEYS[1]
local groupPrefix = string.sub(planKey, 1, #planKey - 4) .. "g:"
local parents = redis.call("HKEYS", planKey)
local deleted = 0
local slice = 500
for from = 1, #parents, slice do
  local keys = {}
  for i = from, math.min(#parents, from + slice - 1) do
    keys[#keys + 1] = groupPrefix .. parents[i]
  end
  deleted = deleted + redis.call("DEL", unpack(keys))
end
deleted = deleted + redis.call("DEL", KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return deleted

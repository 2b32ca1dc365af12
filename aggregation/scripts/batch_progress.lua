--[[
  Progress of one batch-run, read in one consistent snapshot: per group the expected and
  landed child counts, the trigger owner, and the first and last landing times (for
  stuck-work detection: a group that has waited long since its last landing is stuck).

  Input:
    KEYS[1..6]  plan, meta, owner, emitted, first, last (as in land_proof.lua). Group sets are
                named from KEYS[1]: the plan key minus its "plan" suffix, plus "g:<parent>"
                (same hash tag, so the same cluster slot).
    ARGV[1]     "1" to also list, for each incomplete group, the members not landed yet

  Output:
    {nowMs, -2}                                     no plan registered
    {nowMs, pttl, registeredAt, groups, triggered,
      then per group: parent, expected, landed, owner, emitted, first, last, missing}
        owner/first/last are "" when absent; emitted is 1 or 0; missing is a
        comma-separated member list ("" when complete or not asked for)
]]
--- @include "nowMs"

local planKey, metaKey, ownerKey, emittedKey, firstKey, lastKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local wantMissing = ARGV[1] == "1"
local now = nowMs()
local pttl = redis.call("PTTL", planKey)
if pttl == -2 then
  return {now, -2}
end
local groupPrefix = string.sub(planKey, 1, #planKey - 4) .. "g:"
local meta = redis.call("HMGET", metaKey, "registeredAt", "groups", "triggered")
local plan = redis.call("HGETALL", planKey)
local out = {now, pttl, meta[1] or "", meta[2] or "", meta[3] or ""}
for i = 1, #plan, 2 do
  local parent, expected = plan[i], plan[i + 1]
  local groupKey = groupPrefix .. parent
  local landed = redis.call("SCARD", groupKey)
  local missing = ""
  if wantMissing and landed < tonumber(expected) then
    local absent = {}
    for m = 0, tonumber(expected) - 1 do
      if redis.call("SISMEMBER", groupKey, tostring(m)) == 0 then
        absent[#absent + 1] = tostring(m)
      end
    end
    missing = table.concat(absent, ",")
  end
  out[#out + 1] = parent
  out[#out + 1] = expected
  out[#out + 1] = landed
  out[#out + 1] = redis.call("HGET", ownerKey, parent) or ""
  out[#out + 1] = redis.call("HEXISTS", emittedKey, parent)
  out[#out + 1] = redis.call("HGET", firstKey, parent) or ""
  out[#out + 1] = redis.call("HGET", lastKey, parent) or ""
  out[#out + 1] = missing
end
return out

--[[
  Registers the aggregation plan of one batch-run: every parent group with the number
  of children it waits for.

  Idempotent: registering the same plan again (in any order) changes nothing, not even
  the TTL. Registering a different plan for the same batch-run is a PLAN_CONFLICT error;
  the stored plan is never overwritten. A reprove uses a new run, hence a new plan.

  Input:
    KEYS[1] plan hash      agg:{<batch-run>}:plan
    KEYS[2] meta hash      agg:{<batch-run>}:meta

    ARGV[1] ttl in milliseconds (positive)
    ARGV[2k+1], ARGV[2k+2]  for k = 1..n: parent, expected child count (positive integer)

  Output: {status, groups}   status REGISTERED | ALREADY_REGISTERED

  Errors (nothing is written): BAD_PLAN, PLAN_CONFLICT.
]]
--- @include "nowMs"
--- @include "isCanonicalInt"

local planKey, metaKey = KEYS[1], KEYS[2]
local ttl = ARGV[1]
if type(ttl) ~= "string" or #ttl > 15 or not string.match(ttl, "^[1-9]%d*$") then
  return redis.error_reply("BAD_PLAN ttl '" .. tostring(ttl) .. "' is not a positive integer of ms")
end
if (#ARGV - 1) % 2 ~= 0 then
  return redis.error_reply("BAD_PLAN parents and expected counts must come in pairs")
end
local n = (#ARGV - 1) / 2
if n == 0 then
  return redis.error_reply("BAD_PLAN a plan has at least one group")
end

local seen = {}
for k = 1, n do
  local parent, expected = ARGV[2 * k], ARGV[2 * k + 1]
  if #parent == 0 then
    return redis.error_reply("BAD_PLAN empty parent id")
  end
  if not isCanonicalInt(expected) or tonumber(expected) < 1 then
    return redis.error_reply("BAD_PLAN group " .. parent .. " expects '" .. expected ..
      "' children, not a positive integer")
  end
  if seen[parent] then
    return redis.error_reply("BAD_PLAN group " .. parent .. " appears twice")
  end
  seen[parent] = true
end

if redis.call("EXISTS", planKey) == 1 then
  local stored = redis.call("HLEN", planKey)
  if stored ~= n then
    return redis.error_reply("PLAN_CONFLICT " .. planKey .. " holds " .. stored ..
      " groups, the new plan has " .. n)
  end
  for k = 1, n do
    local parent, expected = ARGV[2 * k], ARGV[2 * k + 1]
    local have = redis.call("HGET", planKey, parent)
    if have ~= expected then
      return redis.error_reply("PLAN_CONFLICT " .. planKey .. " group " .. parent ..
        " expects " .. tostring(have or "nothing (absent)") .. ", the new plan says " .. expected)
    end
  end
  return {"ALREADY_REGISTERED", n}
end

-- HSET in slices: unpack() of a very long argument list overflows Lua's C stack.
local slice = 1000
for from = 1, n, slice do
  local to = math.min(n, from + slice - 1)
  local args = {}
  for k = from, to do
    args[#args + 1] = ARGV[2 * k]
    args[#args + 1] = ARGV[2 * k + 1]
  end
  redis.call("HSET", planKey, unpack(args))
end
redis.call("HSET", metaKey, "groups", n, "registeredAt", nowMs(), "ttlMs", ttl, "triggered", 0)
redis.call("PEXPIRE", planKey, ttl)
redis.call("PEXPIRE", metaKey, ttl)
return {"REGISTERED", n}

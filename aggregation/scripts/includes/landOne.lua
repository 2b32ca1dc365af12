--[[
  Lands one child proof in its parent's group. Shared by land_proof.lua and
  land_proofs_batch.lua. Validates everything before writing anything, so a rejected
  landing leaves no trace.

  Returns either
    {status, landed, expected, owner}   status: WAITING | TRIGGER | ALREADY_TRIGGERED
                                        owner: the trigger owner member ("" while WAITING)
                                        The owner gets TRIGGER until its parent is marked
                                        emitted (mark_emitted.lua), ALREADY_TRIGGERED after.
  or
    nil, errorMessage                   UNREGISTERED_BATCH | UNREGISTERED_GROUP | BAD_MEMBER
                                        | MEMBER_OUT_OF_RANGE, followed by details
]]
--- @include "isCanonicalInt"
local function landOne(planKey, metaKey, ownerKey, emittedKey, firstKey, lastKey, groupKey, parent, member, now)
  local expected = redis.call("HGET", planKey, parent)
  if not expected then
    if redis.call("EXISTS", planKey) == 0 then
      return nil, "UNREGISTERED_BATCH no plan is registered at " .. planKey ..
        " (never registered, cleared, or expired)"
    end
    return nil, "UNREGISTERED_GROUP group " .. parent .. " is not in the plan at " .. planKey
  end
  expected = tonumber(expected)
  if not isCanonicalInt(member) then
    return nil, "BAD_MEMBER member '" .. tostring(member) .. "' of group " .. parent ..
      " is not a canonical non-negative integer"
  end
  if tonumber(member) >= expected then
    return nil, "MEMBER_OUT_OF_RANGE member " .. member .. " of group " .. parent ..
      " is outside 0.." .. (expected - 1)
  end

  local added = redis.call("SADD", groupKey, member)
  local landed = redis.call("SCARD", groupKey)
  if added == 1 then
    redis.call("HSET", lastKey, parent, now)
    if landed == 1 then
      -- First landing in this group: stamp it, and let the keys it created expire with the plan.
      redis.call("HSET", firstKey, parent, now)
      local pttl = redis.call("PTTL", planKey)
      if pttl > 0 then
        redis.call("PEXPIRE", groupKey, pttl)
        redis.call("PEXPIRE", firstKey, pttl)
        redis.call("PEXPIRE", lastKey, pttl)
      end
    end
  end

  if landed < expected then
    return {"WAITING", landed, expected, ""}
  end

  local owner = redis.call("HGET", ownerKey, parent)
  if not owner then
    -- This call's member completed the group: it owns the trigger, for good.
    redis.call("HSET", ownerKey, parent, member)
    redis.call("HINCRBY", metaKey, "triggered", 1)
    local pttl = redis.call("PTTL", planKey)
    if pttl > 0 then redis.call("PEXPIRE", ownerKey, pttl) end
    owner = member
  end
  if owner == member then
    -- The owner's redelivery triggers again only while the parent job is not known to be
    -- durably emitted (mark_emitted.lua runs after the producing transaction commits).
    if redis.call("HEXISTS", emittedKey, parent) == 1 then
      return {"ALREADY_TRIGGERED", landed, expected, owner}
    end
    return {"TRIGGER", landed, expected, owner}
  end
  return {"ALREADY_TRIGGERED", landed, expected, owner}
end

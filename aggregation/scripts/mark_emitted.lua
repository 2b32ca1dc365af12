--[[
  Records that the parent jobs of these groups are durably emitted (the transaction that
  produced them committed). From then on a redelivery of a group's trigger owner answers
  ALREADY_TRIGGERED instead of TRIGGER, so a duplicated owner message does not emit the
  parent twice. Until it runs, the owner keeps answering TRIGGER: a crash between the
  landing and the commit can never lose the trigger.

  Input:
    KEYS[1] plan hash      agg:{<batch-run>}:plan    (for the TTL)
    KEYS[2] owner hash     agg:{<batch-run>}:owner
    KEYS[3] emitted hash   agg:{<batch-run>}:emitted parent -> 1
    ARGV    parent ids

  Output: the number of parents newly marked.

  Errors (nothing is written): UNREGISTERED_BATCH, UNREGISTERED_GROUP, NOT_TRIGGERED
  (a group that is not complete has no parent job to have emitted).
]]
local planKey, ownerKey, emittedKey = KEYS[1], KEYS[2], KEYS[3]
if redis.call("EXISTS", planKey) == 0 then
  return redis.error_reply("UNREGISTERED_BATCH no plan is registered at " .. planKey ..
    " (never registered, cleared, or expired)")
end
for i = 1, #ARGV do
  if redis.call("HEXISTS", planKey, ARGV[i]) == 0 then
    return redis.error_reply("UNREGISTERED_GROUP group " .. ARGV[i] .. " is not in the plan at " .. planKey)
  end
  if redis.call("HEXISTS", ownerKey, ARGV[i]) == 0 then
    return redis.error_reply("NOT_TRIGGERED group " .. ARGV[i] .. " is not complete; its parent job cannot be emitted")
  end
end
local n = 0
for i = 1, #ARGV do
  n = n + redis.call("HSETNX", emittedKey, ARGV[i], 1)
end
local pttl = redis.call("PTTL", planKey)
if pttl > 0 then redis.call("PEXPIRE", emittedKey, pttl) end
return n

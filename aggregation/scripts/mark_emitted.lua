--[[
  Records that the parent jobs of these groups are durably emitted (the transaction that
  produced them committed). From then on a redelivery of a group's trigger owner answers
  ALREADY_TRIGGERED instead of TRIGGER, so a duplicated owner message does not emit the
  parent twice. Until it runs, the owner keeps answering TRIGGER: a crash between the
  landing and the commit can never lose the trigger.

  Input:
    KEYS[1] plan hash      agg:{<batch-run>}:plan    (for the TTL)
    KEYS[2] emitted hash   agg:{<batch-run>}:emitted parent -> 1
    ARGV    parent ids

  Output: the number of parents newly marked.
]]
local n = 0
for i = 1, #ARGV do
  n = n + redis.call("HSETNX", KEYS[2], ARGV[i], 1)
end
local pttl = redis.call("PTTL", KEYS[1])
if pttl > 0 then redis.call("PEXPIRE", KEYS[2], pttl) end
return n

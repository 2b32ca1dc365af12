--[[
  Records that child `member` of parent group `parent` has landed (its proof is saved),
  and says whether this landing triggers the parent job.

  Input:
    KEYS[1] plan hash      agg:{<batch-run>}:plan    parent -> expected child count
    KEYS[2] meta hash      agg:{<batch-run>}:meta
    KEYS[3] owner hash     agg:{<batch-run>}:owner   parent -> member that completed the group
    KEYS[4] emitted hash   agg:{<batch-run>}:emitted parent -> 1 once its job is durably produced
    KEYS[5] first hash     agg:{<batch-run>}:first   parent -> first landing (ms)
    KEYS[6] last hash      agg:{<batch-run>}:last    parent -> last new landing (ms)
    KEYS[7] group set      agg:{<batch-run>}:g:<parent>   members landed so far

    ARGV[1] parent         the parent job's id within the batch-run, e.g. r1:c3:d0:s5
    ARGV[2] member         the child's position in the group, 0 .. expected-1

  Output: {status, landed, expected, owner}
    WAITING            the group is not complete yet (owner is "")
    TRIGGER            this member completed the group and owns its trigger; a redelivery
                       of the same member keeps answering TRIGGER until the parent job is
                       marked emitted (mark_emitted.lua)
    ALREADY_TRIGGERED  the group is complete and another member owns the trigger, or the
                       owner's parent job is already marked emitted

  Errors (nothing is written): UNREGISTERED_BATCH, UNREGISTERED_GROUP, BAD_MEMBER,
  MEMBER_OUT_OF_RANGE.
]]
--- @include "nowMs"
--- @include "landOne"

local result, err = landOne(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7],
  ARGV[1], ARGV[2], nowMs())
if not result then
  return redis.error_reply(err)
end
return result

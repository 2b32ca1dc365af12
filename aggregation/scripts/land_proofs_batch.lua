--[[
  Lands many children of one batch-run in one call: the same rules as land_proof.lua,
  applied in argument order, each landing on its own (a rejected landing writes nothing
  and does not stop the others).

  Input:
    KEYS[1..6]      plan, meta, owner, emitted, first, last (as in land_proof.lua)
    KEYS[6+i]       group set of landing i
    ARGV[2i-1]      parent of landing i
    ARGV[2i]        member of landing i

  Output: a flat array, four entries per landing, in order:
    status, landed, expected, owner      status WAITING | TRIGGER | ALREADY_TRIGGERED
    "ERROR", 0, 0, message               a rejected landing
]]
--- @include "nowMs"
--- @include "landOne"

local n = #ARGV / 2
if #KEYS ~= 6 + n or #ARGV % 2 ~= 0 then
  return redis.error_reply("BAD_CALL land_proofs_batch needs 6 + n keys and 2n arguments")
end

local now = nowMs()
local out = {}
for i = 1, n do
  local result, err = landOne(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[6 + i],
    ARGV[2 * i - 1], ARGV[2 * i], now)
  local base = 4 * (i - 1)
  if result then
    out[base + 1] = result[1]
    out[base + 2] = result[2]
    out[base + 3] = result[3]
    out[base + 4] = result[4]
  else
    out[base + 1] = "ERROR"
    out[base + 2] = 0
    out[base + 3] = 0
    out[base + 4] = err
  end
end
return out

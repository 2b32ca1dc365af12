--[[
  True when `s` is a non-negative integer written canonically: digits only, no sign,
  no leading zero (so "7" and "07" can never be two different set members), at most
  9 digits.
]]
local function isCanonicalInt(s)
  if type(s) ~= "string" or #s == 0 or #s > 9 then return false end
  if not string.match(s, "^%d+$") then return false end
  if #s > 1 and string.sub(s, 1, 1) == "0" then return false end
  return true
end

-- Release: move a hold's seats back from the locked hash to the unsold
-- hash as free, and add them back to the remaining count, in one atomic
-- call (BASELINE.md). The locked hash does not say which hold locked a
-- seat (the Java projects keep that in their order), so the caller names
-- the hold's seats; if any of them is not locked, nothing is released.
--
-- KEYS[1]  the program's seat index: hash seat id -> category id
-- ARGV[1]  the program's key prefix (hold_named.lua says how keys are
--          named; hold_best.lua says their shape)
-- ARGV[2], ...  the hold's seat ids: 1-64, no two the same (checked by
--          the driver)
--
-- Answers {"ok"}, or {"unknown_hold", seat id} for the first seat that is
-- not locked.

local prefix = ARGV[1]

local seats = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local cat = redis.call('HGET', KEYS[1], id)
  local v = cat and redis.call('HGET', prefix .. cat .. ':locked', id)
  if not v then
    return {'unknown_hold', id}
  end
  seats[#seats + 1] = cjson.decode(v)
end

local byCat, cats = {}, {}
for _, s in ipairs(seats) do
  local c = s.ticketCategoryId
  if byCat[c] == nil then
    byCat[c] = {ids = {}, fields = {}}
    cats[#cats + 1] = c
  end
  s.sellStatus = 1
  local g = byCat[c]
  g.ids[#g.ids + 1] = s.id
  g.fields[#g.fields + 1] = s.id
  g.fields[#g.fields + 1] = cjson.encode(s)
end
for _, c in ipairs(cats) do
  local g = byCat[c]
  redis.call('HDEL', prefix .. c .. ':locked', unpack(g.ids))
  redis.call('HMSET', prefix .. c .. ':unsold', unpack(g.fields))
  redis.call('HINCRBY', prefix .. c .. ':remain', c, #g.ids)
end
return {'ok'}

-- Manual choice: hold the seats the buyer names, if every one is free and
-- together they cost at most the buyer's expected total, in one atomic
-- call (BASELINE.md).
--
-- The buyer's request names seats, not their category (seatd's seat ids
-- are "section/row/col"), so the script looks each seat's category up in
-- the program's seat index, where the Java projects take it from the
-- request; a category's hashes are named by the program's key prefix.
-- (Those keys are not declared in KEYS: one Redis process, no cluster.)
--
-- KEYS[1]  the program's seat index: hash seat id -> category id
-- ARGV[1]  the program's key prefix: a category c's hashes are
--          prefix..c..":unsold", ":locked" and ":remain" (hold_best.lua
--          says their shape)
-- ARGV[2]  the buyer's expected total, in cents
-- ARGV[3], ...  the seat ids: 1-64, no two the same (checked by the
--          driver)
--
-- Answers {"ok", total cents, seat JSON, ...} with the seats as locked,
-- in the order named; {"taken", seat id} for the first seat that is not
-- in its unsold hash (held, sold, or no seat of the program) or whose
-- status is not free; or {"price_mismatch", total cents}.

local prefix = ARGV[1]
local expected = tonumber(ARGV[2])

-- Every seat: its category, then its JSON from the unsold hash; add up
-- the real prices.
local seats, total = {}, 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local cat = redis.call('HGET', KEYS[1], id)
  if not cat then
    return {'taken', id}
  end
  local v = redis.call('HGET', prefix .. cat .. ':unsold', id)
  if not v then
    return {'taken', id}
  end
  local s = cjson.decode(v)
  if s.sellStatus ~= 1 then
    return {'taken', id}
  end
  total = total + s.price
  seats[#seats + 1] = s
end
if total > expected then
  return {'price_mismatch', total}
end

-- Lock them, category by category: HDEL from the unsold hash, HMSET into
-- the locked hash as locked, HINCRBY the remaining count down.
local byCat, cats, out = {}, {}, {'ok', total}
for _, s in ipairs(seats) do
  local c = s.ticketCategoryId
  if byCat[c] == nil then
    byCat[c] = {ids = {}, fields = {}}
    cats[#cats + 1] = c
  end
  s.sellStatus = 2
  local v = cjson.encode(s)
  local g = byCat[c]
  g.ids[#g.ids + 1] = s.id
  g.fields[#g.fields + 1] = s.id
  g.fields[#g.fields + 1] = v
  out[#out + 1] = v
end
for _, c in ipairs(cats) do
  local g = byCat[c]
  redis.call('HDEL', prefix .. c .. ':unsold', unpack(g.ids))
  redis.call('HMSET', prefix .. c .. ':locked', unpack(g.fields))
  redis.call('HINCRBY', prefix .. c .. ':remain', c, -#g.ids)
end
return out

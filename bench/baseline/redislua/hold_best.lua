-- Automatic choice: hold N adjacent seats of one category, the first run
-- of N consecutive columns of one row in (rowCode, colCode) order, in one
-- atomic call. This is BASELINE.md's script, cost included: every call
-- decodes and sorts every unsold seat of the category, O(S log S) for S
-- unsold seats, while Redis serves nothing else.
--
-- KEYS[1]  the category's unsold seats: hash seat id -> seat JSON
--          {id, ticketCategoryId, rowCode, colCode, price, sellStatus},
--          sellStatus 1 (free)
-- KEYS[2]  the category's locked seats, the same shape, sellStatus 2
-- KEYS[3]  the category's remaining count: hash category id -> seats
-- ARGV[1]  the category id
-- ARGV[2]  N, the seats wanted (1-64, checked by the driver)
--
-- Answers {"ok", seat JSON, ...} with the N seats as locked, in row and
-- column order; {"sold_out"}; or {"no_adjacent"}.

local n = tonumber(ARGV[2])

-- 1. The remaining count: missing or below N is sold out.
local remain = tonumber(redis.call('HGET', KEYS[3], ARGV[1]))
if remain == nil or remain < n then
  return {'sold_out'}
end

-- 2. Every unsold seat of the category, decoded.
local seats = {}
for i, v in ipairs(redis.call('HVALS', KEYS[1])) do
  seats[i] = cjson.decode(v)
end

-- 3. All of them in (rowCode, colCode) order.
table.sort(seats, function(a, b)
  if a.rowCode ~= b.rowCode then
    return a.rowCode < b.rowCode
  end
  return a.colCode < b.colCode
end)

-- 4. The first N consecutive seats of one row whose colCodes differ by 1:
-- run counts the seats of the run that ends at seat i.
local first = nil
local run = 0
for i, s in ipairs(seats) do
  local prev = seats[i - 1]
  if prev ~= nil and prev.rowCode == s.rowCode and prev.colCode + 1 == s.colCode then
    run = run + 1
  else
    run = 1
  end
  if run == n then
    first = i - n + 1
    break
  end
end

-- 5. None: no adjacent seats. Else move them from the unsold hash to the
-- locked hash as locked, and take them off the remaining count.
if first == nil then
  return {'no_adjacent'}
end
local ids, fields, out = {}, {}, {'ok'}
for i = first, first + n - 1 do
  local s = seats[i]
  s.sellStatus = 2
  local v = cjson.encode(s)
  ids[#ids + 1] = s.id
  fields[#fields + 1] = s.id
  fields[#fields + 1] = v
  out[#out + 1] = v
end
redis.call('HDEL', KEYS[1], unpack(ids))
redis.call('HMSET', KEYS[2], unpack(fields))
redis.call('HINCRBY', KEYS[3], ARGV[1], -n)
return out

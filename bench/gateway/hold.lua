-- wrk script: best-available holds of one seat, each request from the next
-- buyer in tokens.txt (one JWT a line), so the per-buyer rate spreads.
local tokens = {}
for line in io.lines(os.getenv("TOKENS") or "tokens.txt") do
  tokens[#tokens + 1] = line
end
local path = "/v1/programs/" .. (os.getenv("PROGRAM") or "bench") .. "/holds"
local body = '{"count":1}'
local requests = {}
for i, t in ipairs(tokens) do
  requests[i] = wrk.format("POST", path, {["Authorization"] = "Bearer " .. t, ["Content-Type"] = "application/json"}, body)
end
local n = 0

request = function()
  n = n % #requests + 1
  return requests[n]
end

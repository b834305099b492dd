-- wrk script: best-available holds of one seat, each request from the next
-- buyer in tokens.txt (one JWT a line), so the per-buyer rate spreads.
local tokens = {}
for line in io.lines(os.getenv("TOKENS") or "tokens.txt") do
  tokens[#tokens + 1] = line
end
local path = "/v1/programs/" .. (os.getenv("PROGRAM") or "bench") .. "/holds"
local body = '{"count":1}'
local requests = {}

-- Formatted once, in init, where wrk.headers holds the Host header.
init = function()
  for i, t in ipairs(tokens) do
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["Authorization"] = "Bearer " .. t
    headers["Content-Type"] = "application/json"
    requests[i] = wrk.format("POST", path, headers, body)
  end
end
local n = 0

request = function()
  n = n % #requests + 1
  return requests[n]
end

-- POST /v1/keys/verify with one token, read from the file BENCH_PATH names (bench/run writes one per key kind:
-- unlimited, with credits, with a rate limit), so the scenarios differ only in the key's usage control.
package.path = package.path .. ";" .. os.getenv("BENCH_WRK") .. "/?.lua"
local c = require("common")
local token = io.lines(os.getenv("BENCH_PATH"))()
local body = '{"token":"' .. token .. '"}'
local headers = { ["Content-Type"] = "application/json" }
function request()
  return wrk.format("POST", "/v1/keys/verify", headers, body)
end
setup = c.setup
done = c.done

-- POST /v1/keys/verify with a random real token from the seed (no authentication;
-- BENCH_PATH: another path, for the reference).
package.path = package.path .. ";" .. os.getenv("BENCH_WRK") .. "/?.lua"
local c = require("common")
local tokens = {}
local path = os.getenv("BENCH_PATH") or ""
if path == "" then path = "/v1/keys/verify" end
local headers = { ["Content-Type"] = "application/json" }
function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
  math.randomseed(os.time() + (tid or 0))
end
function request()
  local body = '{"token":"' .. tokens[math.random(1, #tokens)] .. '"}'
  return wrk.format("POST", path, headers, body)
end
setup = c.setup
done = c.done

-- POST /v1/provision with a unique email per request, as the admin.
package.path = package.path .. ";" .. os.getenv("BENCH_WRK") .. "/?.lua"
local c = require("common")
local headers = c.auth_headers()
local n = 0
function request()
  n = n + 1
  local body = string.format('{"email":"wrk-p-%s-%d-%d@example.com","key_name":"load"}', c.run, tid, n)
  return wrk.format("POST", "/v1/provision", headers, body)
end
setup = c.setup
done = c.done

-- wrk script for benchmarks/gateway.py: POST the JSON body in $WRK_BODY,
-- with "Authorization: Bearer $WRK_TOKEN" when a token is given.
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("WRK_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

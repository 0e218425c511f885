-- POST /v1/bookings, every request a new 15-minute slot under a new Idempotency-Key, for one
-- host or several in turn (each works 24/7). Thread `id` of `threads` sends its n-th request
-- (n = 0, 1, ...) as request number i = n * threads + id: to host i mod H of the H hosts, for
-- that host's slot floor(i / H) after <slot base>, so no two requests of a run share a host's
-- slot or a key. Every answer other than 201 is counted (the target is 100 % 201s).
-- Arguments: <api key> <host ids, comma-separated> <slot base, epoch seconds> <run id> <threads>.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

counting_responses = true

local SLOT_SECONDS = 15 * 60
local api_key, slot_base, run_id, stride
local hosts = {}
local sent = 0

function init(args)
  api_key, slot_base, run_id, stride = args[1], tonumber(args[3]), args[4], tonumber(args[5])
  for host in string.gmatch(args[2], "[^,]+") do
    hosts[#hosts + 1] = host
  end
end

function request()
  local number = sent * stride + id
  local host_id, index = hosts[number % #hosts + 1], math.floor(number / #hosts)
  sent = sent + 1
  local body = string.format(
    '{"host_id":"%s","start":"%s","duration_minutes":15,"title":"Bench call %d",'
      .. '"attendees":[{"email":"guest@example.com","name":"Guest"}],"metadata":{"bench":"%s"}}',
    host_id, os.date("!%Y-%m-%dT%H:%M:%SZ", slot_base + index * SLOT_SECONDS), index, run_id
  )
  local headers = {
    ["Authorization"] = "Bearer " .. api_key,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("bench-%s-%d-%d", run_id, id, sent),
  }
  return wrk.format("POST", "/v1/bookings", headers, body)
end

function response(status, headers, body)
  count_unexpected(status, 201, body)
end

-- GET /v1/availability, every request a window no request of the run asked for before, so no
-- answer comes from Hub's memory of recent answers (hub.availability.cache): thread `id` of
-- `threads` sends its n-th request (n = 0, 1, ...) for the window starting i = n * threads + id
-- seconds after <window base> and lasting <days> days. The answers are those of the repeated
-- query, but for the few slots the later start leaves out.
-- Arguments: <api key> <user id> <window base, epoch seconds> <days> <duration minutes> <threads>.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local headers, user_id, base, span, duration, stride
local sent = 0

function init(args)
  headers = { ["Authorization"] = "Bearer " .. args[1] }
  user_id, base, span, duration, stride = args[2], tonumber(args[3]), tonumber(args[4]) * 86400, args[5], tonumber(args[6])
end

function request()
  local start = base + sent * stride + id
  sent = sent + 1
  local path = string.format(
    "/v1/availability?user_id=%s&start=%s&end=%s&duration_minutes=%s",
    user_id, os.date("!%Y-%m-%dT%H:%M:%SZ", start), os.date("!%Y-%m-%dT%H:%M:%SZ", start + span), duration
  )
  return wrk.format("GET", path, headers)
end

-- GET /v1/availability, the same query every time.
-- Arguments: <api key> <path with query string>.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local request_text

function init(args)
  request_text = wrk.format("GET", args[2], { ["Authorization"] = "Bearer " .. args[1] })
end

function request()
  return request_text
end

-- GET /health (Hub's and the floor app's). No arguments.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

wrk.method = "GET"
wrk.path = "/health"

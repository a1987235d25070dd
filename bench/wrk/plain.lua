-- plain.lua: the URL and headers given on wrk's command line, unchanged
-- (GET /healthz, GET /api/v1/me with -H "Authorization: Bearer ...").

local wrk_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(wrk_dir .. "report.lua")

-- sessions.lua: POST /api/v1/sessions (login) with valid credentials,
-- cycling through the accounts the benchmark created.
-- Script arguments: PASSWORD EMAIL [EMAIL...]

local wrk_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(wrk_dir .. "report.lua")

local bodies = {}
local next_body = 1

function init(args)
   local password = args[1]
   for i = 2, #args do
      bodies[#bodies + 1] = string.format('{"email":"%s","password":"%s"}',
                                          args[i], password)
   end
   assert(#bodies > 0, "usage: sessions.lua PASSWORD EMAIL [EMAIL...]")
   -- Threads start at different accounts so they do not move in step.
   next_body = (id or 0) % #bodies + 1
end

local headers = { ["Content-Type"] = "application/json" }

function request()
   local body = bodies[next_body]
   next_body = next_body % #bodies + 1
   return wrk.format("POST", "/api/v1/sessions", headers, body)
end

-- Give each thread a number, as accounts.lua does.
local threads = 0
function setup(thread)
   thread:set("id", threads)
   threads = threads + 1
end

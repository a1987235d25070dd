-- accounts.lua: POST /api/v1/accounts (registration), every request with a
-- username no other request of the benchmark uses:
-- b<run>t<thread>n<counter>, at most 1+8+1+3+1+10 = 24 characters.
-- Script arguments: RUN PASSWORD (RUN: a few lower-case letters or digits
-- unique to this benchmark run).

local wrk_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(wrk_dir .. "report.lua")

local threads = 0
function setup(thread)
   thread:set("id", threads)
   threads = threads + 1
end

local run, password
local counter = 0

function init(args)
   run, password = args[1], args[2]
   assert(run and password, "usage: accounts.lua RUN PASSWORD")
end

local headers = { ["Content-Type"] = "application/json" }

function request()
   counter = counter + 1
   local body = string.format('{"username":"b%st%dn%d","password":"%s"}',
                              run, id, counter, password)
   return wrk.format("POST", "/api/v1/accounts", headers, body)
end

-- report.lua: the summary line bench/accountd.sh reads, printed by wrk's
-- done() hook after a run. Every wrk script of the benchmark loads it:
--   dofile(wrk_dir .. "report.lua")
-- Fields: requests, rps (all answers), ok_rps (answers below 400), p50/p99/max latency in microseconds, and the
-- error counts. wrk counts a response as a status error when its status
-- is 400 or more (accountd sends no 3xx), so status_errors is the non-2xx
-- count that must be 0; connect/read/write/timeout are socket errors.

function done(summary, latency, requests)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "BENCH requests=%d rps=%.1f ok_rps=%.1f p50_us=%d p99_us=%d max_us=%d " ..
      "status_errors=%d connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, summary.requests / seconds,
      (summary.requests - e.status) / seconds,
      latency:percentile(50), latency:percentile(99), latency.max,
      e.status, e.connect, e.read, e.write, e.timeout))
end

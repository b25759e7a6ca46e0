-- wrk script of scripts/bench: posts a pool of distinct, freshly signed
-- events (made by bench-node/pool.js), one after another, wrapping around
-- when the pool is used up (counted in "wraps": a wrapped event is a
-- duplicate for a handler that records hook runs).
--
--	wrk ... -s bench-wrk.lua URL -- TEMPLATE ORIG_ID POOL
--
-- done() prints one line with the counts, the latency percentiles and
-- wrk's own CPU time (clock ticks, from /proc/self/stat), which the bench
-- subtracts from the machine's busy time.

local threads = {}
reqs, npool, pos, wraps = {}, 0, 0, 0

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	local f = assert(io.open(args[1], "rb"))
	local tpl = f:read("*a")
	f:close()
	local s, e = tpl:find(args[2], 1, true)
	assert(s, "the event id is not in the template")
	local pre, post = tpl:sub(1, s - 1), tpl:sub(e + 1)
	for line in io.lines(args[3]) do
		local id, sig = line:match("^(%S+) (%S+)$")
		npool = npool + 1
		reqs[npool] = wrk.format("POST", nil, {
			["Content-Type"] = "application/json; charset=utf-8",
			["Stripe-Signature"] = sig,
			["User-Agent"] = "Stripe/1.0",
			["Accept"] = "*/*; q=0.5, application/xml",
			["Cache-Control"] = "no-cache",
		}, pre .. id .. post)
	end
	assert(npool > 0, "empty pool")
end

function request()
	pos = pos + 1
	if pos > npool then
		pos = 1
		wraps = wraps + 1
	end
	return reqs[pos]
end

function done(summary, latency, requests)
	local w = 0
	for _, t in ipairs(threads) do
		w = w + (t:get("wraps") or 0)
	end
	local f = io.open("/proc/self/stat", "r")
	local st = f:read("*l")
	f:close()
	local fields = {}
	for v in st:match("%) (.*)$"):gmatch("%S+") do
		fields[#fields + 1] = v
	end
	-- fields[1] is field 3 of proc(5): utime and stime are 14 and 15.
	local ticks = tonumber(fields[12]) + tonumber(fields[13])
	local e = summary.errors
	io.write(string.format("WRK requests=%d duration_us=%d p50_us=%d " ..
	    "p99_us=%d max_us=%d status_errors=%d socket_errors=%d " ..
	    "cpu_ticks=%d wraps=%d\n", summary.requests, summary.duration,
	    latency:percentile(50), latency:percentile(99), latency.max,
	    e.status, e.connect + e.read + e.write + e.timeout, ticks, w))
end

// The hook-start row of scripts/bench: sends COUNT distinct events one at
// a time to URL (a stripehook with `ack receipt`), each signed now with
// Stripe's scheme, notes when each 200 arrives (the realtime clock), waits
// until the hook (bench-stamp) has written its start time to STAMPS, then
// waits GAP_MS more so that the runner is idle before the next event.
// Writes one line per event to OUT: "ID DELAY_US", the time from the 200
// to the hook's start.  Exits 1 on an answer other than 200 or a hook that
// did not start within 10 s.
//
//	node hook-start.js URL TEMPLATE ORIG_ID SECRET COUNT PREFIX GAP_MS STAMPS OUT
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const { performance } = require('perf_hooks');

const [url, tplFile, origId, secret, countArg, prefix, gapArg, stamps, out] =
    process.argv.slice(2);
const count = parseInt(countArg, 10);
const gap = parseInt(gapArg, 10);
if (!out || !(count > 0) || !(gap >= 0)) {
	process.stderr.write('usage: node hook-start.js URL TEMPLATE ORIG_ID ' +
	    'SECRET COUNT PREFIX GAP_MS STAMPS OUT\n');
	process.exit(2);
}
const tpl = fs.readFileSync(tplFile, 'latin1');
if (!tpl.includes(origId)) {
	process.stderr.write('hook-start.js: ' + origId + ' not in the template\n');
	process.exit(2);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowNs = () => BigInt(Math.round((performance.timeOrigin +
    performance.now()) * 1e3)) * 1000n;

function post(body) {
	const t = String(Math.floor(Date.now() / 1000));
	const sig = crypto.createHmac('sha256', secret).update(t + '.')
	    .update(body).digest('hex');
	return new Promise((resolve, reject) => {
		const req = http.request(url, { method: 'POST', agent: false,
		    headers: { 'Content-Type': 'application/json; charset=utf-8',
		    'Content-Length': body.length,
		    'Stripe-Signature': 't=' + t + ',v1=' + sig } }, (res) => {
			const at = nowNs();
			res.resume();
			res.on('end', () => resolve([res.statusCode, at]));
		});
		req.on('error', reject);
		req.end(body);
	});
}

// started ID: the hook's start time (ns) from STAMPS, or null.
function started(id) {
	let text = '';
	try {
		text = fs.readFileSync(stamps, 'latin1');
	} catch (e) {
		return null;
	}
	const m = text.match(new RegExp('^' + id + ' ([0-9]+)$', 'm'));
	return m ? BigInt(m[1]) : null;
}

async function main() {
	const lines = [];
	for (let i = 0; i < count; i++) {
		const id = prefix + '_' + i;
		const body = Buffer.from(tpl.replace(origId, id), 'latin1');
		const [status, at] = await post(body);
		if (status !== 200)
			throw new Error(id + ' answered ' + status);
		let t = null;
		for (let k = 0; k < 2000 && t === null; k++) {
			t = started(id);
			if (t === null)
				await sleep(5);
		}
		if (t === null)
			throw new Error(id + ': the hook did not start in 10 s');
		lines.push(id + ' ' + Number((t - at) / 1000n));
		await sleep(gap);
	}
	fs.writeFileSync(out, lines.join('\n') + '\n');
}

main().catch((e) => {
	process.stderr.write('hook-start.js: ' + e.message + '\n');
	process.exit(1);
});

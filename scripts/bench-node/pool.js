// Signs a pool of distinct events for scripts/bench.  Each event is the
// template with its event id (ORIG_ID, first occurrence) replaced by
// PREFIX_<n>; every one is signed now with Stripe's scheme (HMAC-SHA256 of
// "t.body" under the secret, as stripehook(8) SIGNATURES states).  Writes
// "ID SIGNATURE" lines, which bench-wrk.lua turns into requests.
//
//	node pool.js TEMPLATE ORIG_ID SECRET COUNT PREFIX OUT
'use strict';
const crypto = require('crypto');
const fs = require('fs');

const [tplFile, origId, secret, countArg, prefix, out] = process.argv.slice(2);
const count = parseInt(countArg, 10);
if (!out || !(count > 0)) {
	process.stderr.write('usage: node pool.js TEMPLATE ORIG_ID SECRET ' +
	    'COUNT PREFIX OUT\n');
	process.exit(2);
}
const tpl = fs.readFileSync(tplFile);
const at = tpl.indexOf(origId);
if (at < 0) {
	process.stderr.write('pool.js: ' + origId + ' not in the template\n');
	process.exit(2);
}
const pre = tpl.subarray(0, at);
const post = tpl.subarray(at + Buffer.byteLength(origId));
const t = String(Math.floor(Date.now() / 1000));
const lines = [];
for (let i = 0; i < count; i++) {
	const id = prefix + '_' + i;
	const h = crypto.createHmac('sha256', secret);
	h.update(t + '.');
	h.update(pre);
	h.update(id);
	h.update(post);
	lines.push(id + ' t=' + t + ',v1=' + h.digest('hex'));
}
fs.writeFileSync(out, lines.join('\n') + '\n');

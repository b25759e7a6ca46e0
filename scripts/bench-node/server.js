// Stripe's documented Node.js webhook handler, the baseline of
// scripts/bench: Express with express.raw({type: 'application/json'}) and
// stripe.webhooks.constructEvent, one process as in Stripe's example.
//
//	node server.js verify|hook PORT SECRET_FILE
//
// verify: check the signature and parse the event, answer 200.
// hook:   the same, then run /bin/true with the raw payload on its stdin
//         and answer once it has exited (500 if it failed), the way
//         stripehook runs a hook.
'use strict';
const fs = require('fs');
const { spawn } = require('child_process');
const express = require('express');
const Stripe = require('stripe');

const [mode, port, secretFile] = process.argv.slice(2);
if ((mode !== 'verify' && mode !== 'hook') || !secretFile) {
	process.stderr.write('usage: node server.js verify|hook PORT ' +
	    'SECRET_FILE\n');
	process.exit(2);
}
// Verifying needs no API key; the client is never used to call Stripe.
const stripe = Stripe('sk_test_unused');
const endpointSecret = fs.readFileSync(secretFile, 'utf8').trim();
const app = express();

app.post('/webhook', express.raw({ type: 'application/json' }),
    (req, res) => {
	let event;
	try {
		event = stripe.webhooks.constructEvent(req.body,
		    req.headers['stripe-signature'], endpointSecret);
	} catch (err) {
		res.status(400).send(`Webhook Error: ${err.message}`);
		return;
	}
	if (mode === 'verify' || event.type !== 'payment_intent.succeeded') {
		res.json({ received: true });
		return;
	}
	const child = spawn('/bin/true', [], {
		stdio: ['pipe', 'ignore', 'ignore'],
		env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
		cwd: '/',
	});
	let answered = false;
	const answer = (ok) => {
		if (answered)
			return;
		answered = true;
		if (ok)
			res.json({ received: true });
		else
			res.status(500).json({ error: 'hook failed' });
	};
	child.stdin.on('error', () => {});	// EPIPE: it exited first
	child.stdin.end(req.body);
	child.on('error', () => answer(false));
	child.on('exit', (code) => answer(code === 0));
});

app.listen(parseInt(port, 10), '127.0.0.1');

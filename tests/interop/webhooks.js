'use strict';
// Stripe's official Node library, driven from tests/interop.sh, to check
// stripehook's signatures against the real thing in both directions.
//
//   node webhooks.js construct FILE HEADER SECRET
//       stripe.webhooks.constructEvent on the raw bytes of FILE; prints the
//       event id.  Exit 0 if accepted, 1 with the library's message if not.
//   node webhooks.js verify FILE HEADER SECRET
//       stripe.webhooks.signature.verifyHeader (for thin events, which
//       constructEvent refuses by design).  Exit 0 or 1.
//   node webhooks.js header FILE SECRET TIMESTAMP
//       stripe.webhooks.generateTestHeaderString; prints the header value.

const fs = require('fs');
const Stripe = require('stripe');

const stripe = new Stripe('sk_test_not_used_for_any_request');

function main(argv) {
  const [cmd, file, ...rest] = argv;
  if (!cmd || !file) {
    process.stderr.write('usage: webhooks.js construct|verify|header FILE ...\n');
    return 2;
  }
  const payload = fs.readFileSync(file);
  try {
    switch (cmd) {
      case 'construct': {
        const [header, secret] = rest;
        const event = stripe.webhooks.constructEvent(payload, header, secret);
        process.stdout.write(`${event.id}\n`);
        return 0;
      }
      case 'verify': {
        const [header, secret] = rest;
        stripe.webhooks.signature.verifyHeader(payload, header, secret);
        return 0;
      }
      case 'header': {
        const [secret, timestamp] = rest;
        const header = stripe.webhooks.generateTestHeaderString({
          payload: payload.toString('utf8'),
          secret,
          timestamp: Number(timestamp),
        });
        process.stdout.write(`${header}\n`);
        return 0;
      }
      default:
        process.stderr.write(`unknown command ${cmd}\n`);
        return 2;
    }
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));

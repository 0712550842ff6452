// Verify an Advocacy webhook request (Node.js 18+, no dependencies).
//
// The Advocacy-Signature header looks like "t=1767225600,v1=5257a869...":
// v1 is the hex HMAC-SHA256 of "<t>.<raw request body>" keyed with the
// endpoint's signing secret ("whsec_...", shown in the admin). Pass the body
// exactly as received (a Buffer), not parsed and re-serialized JSON.
//
// Express example:
//
//   app.post("/advocacy-webhook", express.raw({ type: "application/json" }), (req, res) => {
//     if (!verifyWebhook(process.env.WEBHOOK_SECRET, req.get("Advocacy-Signature"), req.body)) {
//       return res.status(400).send("bad signature");
//     }
//     const event = JSON.parse(req.body); // {id, type, created, data}
//     // ... process once per event.id: deliveries can repeat
//     res.sendStatus(204);
//   });
//
// From a shell: WEBHOOK_SECRET=whsec_... node verify_webhook.js "<Advocacy-Signature>" < body
// prints "ok" and exits 0, or prints "invalid signature" and exits 1.
"use strict";

const crypto = require("node:crypto");

const TOLERANCE_SECONDS = 300; // refuse replays of requests signed longer ago than this

function verifyWebhook(secret, signatureHeader, rawBody, toleranceSeconds = TOLERANCE_SECONDS) {
  let timestamp = "";
  const signatures = [];
  for (const item of String(signatureHeader || "").split(",")) {
    const [key, ...rest] = item.trim().split("=");
    if (key === "t") timestamp = rest.join("=");
    else if (key === "v1") signatures.push(rest.join("="));
  }
  if (!/^\d+$/.test(timestamp) || signatures.length === 0) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const expected = crypto
    .createHmac("sha256", secret)
    .update(`${timestamp}.`)
    .update(rawBody)
    .digest();
  return signatures.some(
    (signature) =>
      /^[0-9a-f]{64}$/.test(signature) &&
      crypto.timingSafeEqual(Buffer.from(signature, "hex"), expected),
  );
}

module.exports = { verifyWebhook };

if (require.main === module) {
  const chunks = [];
  process.stdin.on("data", (chunk) => chunks.push(chunk));
  process.stdin.on("end", () => {
    const body = Buffer.concat(chunks);
    const ok = verifyWebhook(process.env.WEBHOOK_SECRET || "", process.argv[2], body);
    console.log(ok ? "ok" : "invalid signature");
    process.exitCode = ok ? 0 : 1;
  });
}

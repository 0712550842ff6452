// Open the advocate widget for the logged-in customer (your server, Node.js).
// Sign who the customer is with your program's widget secret and put the URL in an <iframe>.
const crypto = require("node:crypto");

function widgetSignature(widgetSecret, program, email, externalId, expires, name = "") {
  const message = `${program}|${email}|${externalId || ""}|${expires}|${name || ""}`;
  return crypto.createHmac("sha256", widgetSecret).update(message).digest("hex");
}

// The iframe's src; valid for `ttl` seconds (render it with each page view).
function widgetUrl(platform, program, widgetSecret, email, externalId = "", name = "", ttl = 3600) {
  const expires = Math.floor(Date.now() / 1000) + ttl;
  const query = new URLSearchParams({
    email,
    external_id: externalId || "",
    name,
    expires: String(expires),
    sig: widgetSignature(widgetSecret, program, email, externalId, expires, name),
  });
  return `${platform}/widget/${program}/?${query}`;
}

module.exports = { widgetSignature, widgetUrl };

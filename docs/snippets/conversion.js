// Report purchases and refunds to the referral platform (your server, Node.js 18+ fetch).
const PLATFORM = process.env.ADVOCACY_URL || "https://advocacy.example.com";
const SECRET_KEY = process.env.ADVOCACY_SECRET_KEY || "";

async function post(path, body, headers = {}, { platform = PLATFORM, secretKey = SECRET_KEY } = {}) {
  const response = await fetch(`${platform}${path}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${secretKey}`, "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${response.status} ${json.error.code}: ${json.error.message}`);
  return json;
}

// Call once the payment succeeded; safe to retry (the order id makes it idempotent).
async function reportPurchase({ orderId, amount, currency, email, referralCode, clickId }, options) {
  const body = { order_id: String(orderId), amount: String(amount), currency, customer: { email } };
  // The hidden inputs referral_code / referral_click, when embed.js filled them.
  if (referralCode) body.referral_code = referralCode;
  if (clickId) body.click_id = clickId;
  return post("/api/v1/conversions", body, {}, options);
}

// Reverse the rewards of a refunded order; leave out amount to refund the whole order.
async function reportRefund({ orderId, refundId, amount }, options) {
  const body = amount === undefined ? {} : { amount: String(amount) };
  const path = `/api/v1/conversions/${encodeURIComponent(orderId)}/refunds`;
  return post(path, body, { "Idempotency-Key": `refund-${refundId}` }, options);
}

module.exports = { reportPurchase, reportRefund };

// Stripe Checkout: hand the referral to Stripe, the platform reads it from the webhook.
const Stripe = require("stripe");
const stripe = Stripe(process.env.STRIPE_SECRET_KEY);

// referralCode / referralClick are the hidden inputs that embed.js filled.
async function createCheckoutSession({ priceId, successUrl, cancelUrl, referralCode, referralClick }) {
  const referral = {};
  if (referralCode) referral.referral_code = referralCode;
  if (referralClick) referral.click_id = referralClick;
  return stripe.checkout.sessions.create({
    mode: "payment", // for "subscription", also pass subscription_data: { metadata: referral }
    line_items: [{ price: priceId, quantity: 1 }],
    success_url: successUrl,
    cancel_url: cancelUrl,
    // "CODE.CLICK" (or just "CODE"); metadata carries the same for your own reports.
    client_reference_id: [referralCode, referralClick].filter(Boolean).join(".") || undefined,
    metadata: referral,
  });
}

module.exports = { createCheckoutSession };

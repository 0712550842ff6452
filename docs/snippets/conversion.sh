# A purchase, reported by your server once the payment succeeded.
# Set your own values first; the defaults below are the demo's (`make run`):
#   export ADVOCACY_URL=https://advocacy.example.com  # this platform's address (SITE_URL)
#   export ADVOCACY_SECRET_KEY=sk_...                 # your program's secret key
#   export REFERRAL_CODE=...                          # the hidden input referral_code
: "${ADVOCACY_URL:?Set ADVOCACY_URL, e.g. http://127.0.0.1:8000}"
: "${ADVOCACY_SECRET_KEY:?Set ADVOCACY_SECRET_KEY to the secret key (sk_...) of your program}"
REFERRAL_CODE="${REFERRAL_CODE:-DEMO2345}"
ORDER_ID="${ORDER_ID:-1001}"

curl -s -X POST "$ADVOCACY_URL/api/v1/conversions" \
  -H "Authorization: Bearer $ADVOCACY_SECRET_KEY" \
  -H "Content-Type: application/json" \
  -d "{\"order_id\": \"$ORDER_ID\", \"amount\": \"49.90\", \"currency\": \"EUR\",
       \"customer\": {\"email\": \"friend@example.com\"},
       \"referral_code\": \"$REFERRAL_CODE\"}"

# A refund of part of that order (leave out "amount" for the whole order).
curl -s -X POST "$ADVOCACY_URL/api/v1/conversions/$ORDER_ID/refunds" \
  -H "Authorization: Bearer $ADVOCACY_SECRET_KEY" \
  -H "Content-Type: application/json" \
  -H "Idempotency-Key: refund-$ORDER_ID-1" \
  -d '{"amount": "20.00"}'

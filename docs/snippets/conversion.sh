# A purchase, reported by your server once the payment succeeded.
curl -s -X POST "$ADVOCACY_URL/api/v1/conversions" \
  -H "Authorization: Bearer $ADVOCACY_SECRET_KEY" \
  -H "Content-Type: application/json" \
  -d '{"order_id": "1001", "amount": "49.90", "currency": "EUR",
       "customer": {"email": "friend@example.com"},
       "referral_code": "DEMO2345"}'

# A refund of part of that order (leave out "amount" for the whole order).
curl -s -X POST "$ADVOCACY_URL/api/v1/conversions/1001/refunds" \
  -H "Authorization: Bearer $ADVOCACY_SECRET_KEY" \
  -H "Content-Type: application/json" \
  -H "Idempotency-Key: refund-1001-1" \
  -d '{"amount": "20.00"}'

def post_conversion(api, **overrides):
    body = {
        "order_id": "order-1",
        "amount": "49.90",
        "currency": "EUR",
        "customer": {"email": "friend@example.com"},
    }
    body.update(overrides)
    return api.post("/api/v1/conversions", body, format="json")

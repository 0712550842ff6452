def post_conversion(api, **overrides):
    """POST a conversion; ``HTTP_*`` keyword arguments are sent as headers."""
    extra = {k: overrides.pop(k) for k in list(overrides) if k.startswith("HTTP_")}
    body = {
        "order_id": "order-1",
        "amount": "49.90",
        "currency": "EUR",
        "customer": {"email": "friend@example.com"},
    }
    body.update(overrides)
    return api.post("/api/v1/conversions", body, format="json", **extra)

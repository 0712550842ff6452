"""Page routes of this app, mounted at / by config.urls."""

urlpatterns: list = []

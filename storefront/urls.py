from django.urls import path

from . import views

app_name = "storefront"

urlpatterns = [
    path("embed.js", views.embed_js, name="embed-js"),
    path("embed-ui.js", views.embed_ui_js, name="embed-ui-js"),
    path("widget/<slug:slug>/", views.widget, name="widget"),
    path("demo-shop/", views.shop_home, name="shop-home"),
    path("demo-shop/p/<slug:slug>/", views.shop_product, name="shop-product"),
    path("demo-shop/checkout/<slug:slug>/", views.shop_checkout, name="shop-checkout"),
    path("demo-shop/connect/", views.shop_connect, name="shop-connect"),
    path("demo-shop/orders/<str:order_id>/", views.shop_order, name="shop-order"),
]

from django.urls import path

from tutor import consumers

websocket_urlpatterns = [
    path("ws/notifications/", consumers.NotificationConsumer.as_asgi()),
    path("ws/ta/<slug:slug>/", consumers.TAConsumer.as_asgi()),
    path("ws/ta/<slug:slug>/<slug:step>/", consumers.TAConsumer.as_asgi()),
]

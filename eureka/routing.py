"""WebSocket routes of every app."""

from tutor.routing import websocket_urlpatterns as tutor_routes

websocket_urlpatterns = [*tutor_routes]

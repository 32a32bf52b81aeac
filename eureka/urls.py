from django.contrib import admin
from django.urls import include, path

from eureka import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("author/", include("courses.authoring_urls")),
    path("", include("tutor.urls")),
    path("", include("courses.urls")),
]

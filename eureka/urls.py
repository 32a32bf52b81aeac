from django.contrib import admin
from django.urls import include, path

from accounts import views as accounts_views
from eureka import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/profile/", accounts_views.profile, name="profile"),
    path("accounts/", include("allauth.urls")),
    path("author/", include("courses.authoring_urls")),
    path("", include("tutor.urls")),
    path("", include("courses.urls")),
]

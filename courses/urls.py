from django.urls import path

from courses import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("courses/<slug:slug>/", views.course_detail, name="course_detail"),
]

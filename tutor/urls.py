from django.urls import path

from tutor import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("courses/<slug:slug>/enroll/", views.course_enroll, name="course_enroll"),
]

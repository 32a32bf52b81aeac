from django.urls import path

from tutor import views

exercise = "courses/<slug:slug>/steps/<slug:step>/exercises/<slug:exercise>/"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("courses/<slug:slug>/enroll/", views.course_enroll, name="course_enroll"),
    path("courses/<slug:slug>/continue/", views.course_continue, name="course_continue"),
    path("courses/<slug:slug>/steps/<slug:step>/", views.step_page, name="step_page"),
    path(f"{exercise}", views.exercise_attempt, name="exercise_attempt"),
    path(f"{exercise}hint/", views.exercise_hint, name="exercise_hint"),
    path(f"{exercise}solution/", views.exercise_solution, name="exercise_solution"),
]

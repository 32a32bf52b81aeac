"""Instructor authoring, under /author/<course slug>/."""

from django.urls import path

from courses import authoring_views as views

step = "<slug:slug>/steps/<slug:step_slug>/"
item = f"{step}exercises/<slug:exercise_slug>/"
chapter = "<slug:slug>/chapters/<slug:chapter_slug>/"
concept = "<slug:slug>/concepts/<slug:concept_slug>/"

urlpatterns = [
    path("<slug:slug>/", views.outline, name="author_course"),
    path("<slug:slug>/details/", views.course_update, name="author_course_update"),
    path("<slug:slug>/validation/", views.validation_panel, name="author_validation"),
    path("<slug:slug>/publish/", views.publish, name="author_publish"),
    path("<slug:slug>/upload/", views.upload, name="author_upload"),
    path("<slug:slug>/preview/", views.preview, name="author_preview"),
    path("<slug:slug>/chapters/", views.chapter_add, name="author_chapter_add"),
    path(f"{chapter}rename/", views.chapter_rename, name="author_chapter_rename"),
    path(f"{chapter}move/", views.chapter_move, name="author_chapter_move"),
    path(f"{chapter}delete/", views.chapter_delete, name="author_chapter_delete"),
    path(f"{chapter}steps/", views.step_add, name="author_step_add"),
    path(step, views.step_edit, name="author_step"),
    path(f"{step}move/", views.step_move, name="author_step_move"),
    path(f"{step}delete/", views.step_delete, name="author_step_delete"),
    path(f"{step}history/", views.step_history, name="author_step_history"),
    path(f"{step}history/<int:number>/", views.step_history, name="author_step_revision"),
    path(f"{step}new-exercise/", views.exercise_new, {"probe": False}, name="author_exercise_new"),
    path(f"{step}new-probe/", views.exercise_new, {"probe": True}, name="author_probe_new"),
    path(item, views.exercise_edit, name="author_exercise"),
    path(f"{item}move/", views.exercise_move, name="author_exercise_move"),
    path(f"{item}delete/", views.exercise_delete, name="author_exercise_delete"),
    path("<slug:slug>/concepts/", views.concepts, name="author_concepts"),
    path("<slug:slug>/concepts/graph.svg", views.concept_graph, name="author_concept_graph"),
    path(concept, views.concept_edit, name="author_concept"),
    path(f"{concept}delete/", views.concept_delete, name="author_concept_delete"),
]

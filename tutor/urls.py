from django.urls import path

from tutor import escalation_views, insight_views, learning_views, views

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

urlpatterns += [
    path("courses/<slug:slug>/placement/", learning_views.placement, name="placement"),
    path(
        "courses/<slug:slug>/placement/answer/",
        learning_views.placement_action,
        name="placement_action",
    ),
    path("courses/<slug:slug>/next/", learning_views.next_exercise, name="next_exercise"),
    path("courses/<slug:slug>/ta/", views.ta_post, name="ta_post"),
    path("courses/<slug:slug>/steps/<slug:step>/ta/", views.ta_post, name="ta_post_step"),
    path("courses/<slug:slug>/knowledge/", learning_views.what_i_know, name="what_i_know"),
]

urlpatterns += [
    path("ta/escalations/", escalation_views.escalation_queue, name="escalation_queue"),
    path("ta/escalations/<int:pk>/", escalation_views.escalation_detail, name="escalation_detail"),
    path(
        "ta/escalations/<int:pk>/claim/",
        escalation_views.escalation_claim,
        name="escalation_claim",
    ),
    path(
        "ta/escalations/<int:pk>/release/",
        escalation_views.escalation_release,
        name="escalation_release",
    ),
    path(
        "ta/escalations/<int:pk>/reply/",
        escalation_views.escalation_reply,
        name="escalation_reply",
    ),
    path(
        "ta/escalations/<int:pk>/resolve/",
        escalation_views.escalation_resolve,
        name="escalation_resolve",
    ),
    path("courses/<slug:slug>/ta/human/", escalation_views.ask_human, name="ask_human"),
    path(
        "ta/escalations/<int:pk>/messages/<int:message_id>/endorse/",
        escalation_views.message_endorse,
        name="message_endorse",
    ),
    path(
        "courses/<slug:slug>/endorsements/",
        escalation_views.course_endorsements,
        name="course_endorsements",
    ),
    path(
        "courses/<slug:slug>/endorsements/<int:pk>/withdraw/",
        escalation_views.endorsement_withdraw,
        name="endorsement_withdraw",
    ),
    path(
        "courses/<slug:slug>/steps/<slug:step>/ta/human/",
        escalation_views.ask_human,
        name="ask_human_step",
    ),
]

urlpatterns += [
    path("courses/<slug:slug>/insights/", insight_views.course_insights, name="course_insights"),
    path(
        "courses/<slug:slug>/insights.csv",
        insight_views.course_insights_csv,
        name="course_insights_csv",
    ),
    path(
        "courses/<slug:slug>/insights/steps/<slug:step>/",
        insight_views.step_insights,
        name="step_insights",
    ),
]

"""Who may use which route: the one table of Eureka's authorisation.

Every URL route (Django's resolver: ours, allauth's, the admin's) and every WebSocket route is a
row, with what each kind of visitor gets for GET and for POST (a POST sent with a valid CSRF
token, as our pages send it). tests/eureka/test_authorisation_table.py walks it, and fails for a
route that is missing here or a row whose route is gone. The admin's routes are many and all
alike (staff only): they are covered by their prefix, with a few rows tried for real.

The visitors, in column order:

    anonymous      not logged in
    student        a student of the course the URL is about (the sample ramp)
    other_student  a student of another course only
    ta             a TA of the course
    instructor     an instructor of the course
    staff          site staff (is_staff), enrolled in no course

What they get:

    200, 403, ...  that status
    login          a redirect to the log-in page (which comes back afterwards)
    admin-login    a redirect to the admin's log-in page
    302            a redirect anywhere else (the action happened, or the page moved on)

The rules the rows follow (eureka/access.py decides):
    - a course a visitor may not see is reported as missing (404), so a draft's existence does
      not leak; one they may see but not change gives 403;
    - studying a course (steps, exercises, placement, the TA chat) needs an enrollment in it,
      any role, or staff: others get 403; only the course's TAs, instructors and staff see its
      escalations (others get 404, so cases do not leak); only its instructors and staff
      author it or withdraw endorsed answers;
    - anonymous visitors are sent to log in, except on public pages;
    - a method a route does not take is 405, whoever asks, before any other check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.factories import PASSWORD

ACTORS = ("anonymous", "student", "other_student", "ta", "instructor", "staff")

LOGIN = "login"
ADMIN_LOGIN = "admin-login"
REDIRECT = "302"
OPEN = "open"  # WebSocket accepted
REFUSED = "refused"  # WebSocket handshake refused (another site's page)

# Rows that every visitor gets alike.
GET_ONLY = "405 405 405 405 405 405"
POST_ONLY = "405 405 405 405 405 405"


def parse(row: str) -> list[str]:
    """One outcome per visitor, in ACTORS order."""
    outcomes = row.split()
    if len(outcomes) != len(ACTORS):
        raise ValueError(f"{row!r} needs {len(ACTORS)} outcomes, one per visitor")
    return outcomes


@dataclass(frozen=True)
class Route:
    """A URL route: its name, the URL tried (placeholders filled from the test's world:
    {course} {draft} {chapter} {step} {exercise} {concept} {revision} {escalation} {message}
    {endorsement} {student_id}), the POST body, and the outcomes."""

    name: str
    url: str
    get: str
    post: str
    data: dict[str, str] = field(default_factory=dict)
    case: str = ""  # tells apart two rows of one route

    @property
    def id(self) -> str:
        return f"{self.name}[{self.case}]" if self.case else self.name


@dataclass(frozen=True)
class Socket:
    """A WebSocket route: its pattern, the path tried, and what a connection gets: open, or
    closed with the consumer's code (4401: log in; 4403: not allowed here)."""

    pattern: str
    path: str
    connect: str


NEW_PASSWORD = "a long enough passphrase 42"

# Routes of third-party apps covered by their prefix; the rows below try some of them.
GROUPED_PREFIXES = ("admin/",)

A = "/author/{course}"
S = "/courses/{course}/steps/{step}"
E = S + "/exercises/{exercise}"

# fmt: off
ROUTES = [
    #    outcomes:  anon   student other  ta     instr  staff
    # Public pages and the health check (the load balancer's; it names no secrets)
    Route("landing", "/",
          get=" 200    200    200    200    200    200",
          post=GET_ONLY),
    Route("course_detail", "/courses/{course}/",
          get=" 200    200    200    200    200    200",
          post=GET_ONLY),
    # A draft is missing to all but its members and staff.
    Route("course_detail", "/courses/{draft}/", case="draft",
          get=" 404    200    404    404    200    200",
          post=GET_ONLY),
    Route("healthz", "/healthz",
          get=" 200    200    200    200    200    200",
          post=GET_ONLY),

    # Accounts: allauth's pages. Anonymous visitors log in, sign up and reset passwords; those
    # already logged in are sent on. Log-in by code is off: its pages send everyone on.
    Route("account_login", "/accounts/login/",
          get=" 200    302    302    302    302    302",
          post="302    302    302    302    302    302",
          data={"login": "student", "password": PASSWORD}),
    Route("account_logout", "/accounts/logout/",
          get=" 302    200    200    200    200    200",
          post="302    302    302    302    302    302"),
    Route("account_signup", "/accounts/signup/",
          get=" 200    302    302    302    302    302",
          post="302    302    302    302    302    302",
          data={"email": "new@example.org", "username": "newbie",
                "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}),
    Route("account_inactive", "/accounts/inactive/",
          get=" 200    200    200    200    200    200",
          post=GET_ONLY),
    Route("account_reauthenticate", "/accounts/reauthenticate/",
          get=" login  200    200    200    200    200",
          post="login  302    302    302    302    302",
          data={"password": PASSWORD}),
    Route("account_request_reauthentication_code", "/accounts/reauthenticate/code/",
          get=" login  302    302    302    302    302",
          post="login  302    302    302    302    302"),
    Route("account_confirm_reauthentication_code", "/accounts/reauthenticate/code/confirm/",
          get=" login  302    302    302    302    302",
          post="login  302    302    302    302    302"),
    Route("account_confirm_login_code", "/accounts/login/code/confirm/",
          get=" login  302    302    302    302    302",
          post="login  302    302    302    302    302"),
    Route("account_email", "/accounts/email/",
          get=" login  200    200    200    200    200",
          post="login  302    302    302    302    302"),
    Route("account_email_verification_sent", "/accounts/confirm-email/",
          get=" 200    200    200    200    200    200",
          post=GET_ONLY),
    Route("account_confirm_email", "/accounts/confirm-email/not-a-key/",
          get=" 200    200    200    200    200    200",
          post="404    404    404    404    404    404"),
    Route("account_change_password", "/accounts/password/change/",
          get=" login  200    200    200    200    200",
          post="login  200    200    200    200    200"),
    Route("account_set_password", "/accounts/password/set/",
          get=" login  302    302    302    302    302",
          post="login  302    302    302    302    302"),
    Route("account_reset_password", "/accounts/password/reset/",
          get=" 200    200    200    200    200    200",
          post="302    302    302    302    302    302",
          data={"email": "student@example.org"}),
    Route("account_reset_password_done", "/accounts/password/reset/done/",
          get=" 200    200    200    200    200    200",
          post=GET_ONLY),
    Route("account_reset_password_from_key", "/accounts/password/reset/key/1-not-a-key/",
          get=" 200    200    200    200    200    200",
          post="200    200    200    200    200    200"),
    Route("account_reset_password_from_key_done", "/accounts/password/reset/key/done/",
          get=" 200    200    200    200    200    200",
          post=GET_ONLY),
    Route("profile", "/accounts/profile/",
          get=" login  200    200    200    200    200",
          post="login  302    302    302    302    302",
          data={"first_name": "Ada", "last_name": "L", "preferred_language": ""}),

    # Studying: an enrollment in the course (any role) or staff. A student of another course may
    # see the published course's page, not work in it.
    Route("dashboard", "/dashboard/",
          get=" login  200    200    200    200    200",
          post=GET_ONLY),
    Route("course_enroll", "/courses/{course}/enroll/",
          get=POST_ONLY,
          post="login  302    302    302    302    302"),
    Route("course_enroll", "/courses/{draft}/enroll/", case="draft",
          get=POST_ONLY,
          post="login  302    404    404    302    302"),
    Route("course_continue", "/courses/{course}/continue/",
          get=" login  302    403    302    302    302",
          post=GET_ONLY),
    Route("step_page", S + "/",
          get=" login  200    403    200    200    200",
          post=GET_ONLY),
    # A draft has no published version to study.
    Route("step_page", "/courses/{draft}/steps/{step}/", case="draft",
          get=" login  404    404    404    404    404",
          post=GET_ONLY),
    Route("exercise_attempt", E + "/",
          get=POST_ONLY,
          post="login  302    403    302    302    302",
          data={"answer": "3"}),
    Route("exercise_hint", E + "/hint/",
          get=POST_ONLY,
          post="login  302    403    302    302    302"),
    # The worked solution opens after one's own attempt: the student has tried, the rest not.
    Route("exercise_solution", E + "/solution/",
          get=POST_ONLY,
          post="login  302    403    403    403    403"),
    Route("placement", "/courses/{course}/placement/",
          get=" login  200    403    200    200    200",
          post=GET_ONLY),
    Route("placement_action", "/courses/{course}/placement/answer/",
          get=POST_ONLY,
          post="login  302    403    302    302    302",
          data={"action": "skip"}),
    Route("next_exercise", "/courses/{course}/next/",
          get=" login  302    403    302    302    302",
          post=GET_ONLY),
    Route("what_i_know", "/courses/{course}/knowledge/",
          get=" login  200    403    200    200    200",
          post=GET_ONLY),
    Route("ta_post", "/courses/{course}/ta/",
          get=POST_ONLY,
          post="login  302    403    302    302    302",
          data={"text": "What is a count?"}),
    Route("ta_post_step", S + "/ta/",
          get=POST_ONLY,
          post="login  302    403    302    302    302",
          data={"text": "What is a count?"}),
    Route("ask_human", "/courses/{course}/ta/human/",
          get=POST_ONLY,
          post="login  302    403    302    302    302"),
    Route("ask_human_step", S + "/ta/human/",
          get=POST_ONLY,
          post="login  302    403    302    302    302"),

    # The TA desk: the course's TAs, instructors and staff. A case is missing (404) to anyone else.
    Route("escalation_queue", "/ta/escalations/",
          get=" login  403    403    200    200    200",
          post=GET_ONLY),
    Route("escalation_detail", "/ta/escalations/{escalation}/",
          get=" login  404    404    200    200    200",
          post=GET_ONLY),
    Route("escalation_claim", "/ta/escalations/{escalation}/claim/",
          get=POST_ONLY,
          post="login  404    404    302    302    302"),
    # Nobody holds the case: those who may work it get past access, then 409.
    Route("escalation_release", "/ta/escalations/{escalation}/release/",
          get=POST_ONLY,
          post="login  404    404    409    409    409"),
    Route("escalation_reply", "/ta/escalations/{escalation}/reply/",
          get=POST_ONLY,
          post="login  404    404    302    302    302",
          data={"text": "Count each letter."}),
    Route("escalation_resolve", "/ta/escalations/{escalation}/resolve/",
          get=POST_ONLY,
          post="login  404    404    302    302    302",
          data={"resolution": "answered", "note": ""}),
    Route("message_endorse", "/ta/escalations/{escalation}/messages/{message}/endorse/",
          get=POST_ONLY,
          post="login  404    404    302    302    302"),

    # Endorsed answers are reviewed and withdrawn by the course's instructors and staff.
    Route("course_endorsements", "/courses/{course}/endorsements/",
          get=" login  403    403    403    200    200",
          post=GET_ONLY),
    Route("endorsement_withdraw", "/courses/{course}/endorsements/{endorsement}/withdraw/",
          get=POST_ONLY,
          post="login  403    403    403    302    302"),

    # Insights into a course's students: its instructors and staff, like authoring.
    Route("course_insights", "/courses/{course}/insights/",
          get=" login  403    403    403    200    200",
          post=GET_ONLY),
    Route("course_insights_csv", "/courses/{course}/insights.csv",
          get=" login  403    403    403    200    200",
          post=GET_ONLY),
    Route("step_insights", "/courses/{course}/insights/steps/{step}/",
          get=" login  403    403    403    200    200",
          post=GET_ONLY),

    # Authoring: the course's instructors and staff; members of the course get 403.
    Route("author_course", A + "/",
          get=" login  403    403    403    200    200",
          post=GET_ONLY),
    Route("author_course", "/author/{draft}/", case="draft",
          get=" login  403    404    404    200    200",
          post=GET_ONLY),
    Route("author_course_update", A + "/details/",
          get=POST_ONLY,
          post="login  403    403    403    302    302",
          data={"title": "Renamed", "summary": "s"}),
    Route("author_validation", A + "/validation/",
          get=" login  403    403    403    302    302",
          post=GET_ONLY),
    Route("author_publish", A + "/publish/",
          get=POST_ONLY,
          post="login  403    403    403    302    302"),
    Route("author_upload", A + "/upload/",
          get=" login  403    403    403    200    200",
          post="login  403    403    403    422    422"),
    Route("author_preview", A + "/preview/",
          get=POST_ONLY,
          post="login  403    403    403    200    200",
          data={"body": "Hello *world*"}),
    Route("author_chapter_add", A + "/chapters/",
          get=POST_ONLY,
          post="login  403    403    403    302    302",
          data={"title": "A new chapter"}),
    Route("author_chapter_rename", A + "/chapters/{chapter}/rename/",
          get=POST_ONLY,
          post="login  403    403    403    302    302",
          data={"title": "Renamed"}),
    Route("author_chapter_move", A + "/chapters/{chapter}/move/",
          get=POST_ONLY,
          post="login  403    403    403    302    302",
          data={"direction": "down"}),
    Route("author_chapter_delete", A + "/chapters/{chapter}/delete/",
          get=POST_ONLY,
          post="login  403    403    403    422    422"),
    Route("author_step_add", A + "/chapters/{chapter}/steps/",
          get=POST_ONLY,
          post="login  403    403    403    302    302",
          data={"title": "A new step"}),
    Route("author_step", A + "/steps/{step}/",
          get=" login  403    403    403    200    200",
          post="login  403    403    403    422    422"),
    Route("author_step_move", A + "/steps/{step}/move/",
          get=POST_ONLY,
          post="login  403    403    403    302    302",
          data={"direction": "down"}),
    Route("author_step_delete", A + "/steps/{step}/delete/",
          get=" login  403    403    403    200    200",
          post="login  403    403    403    302    302"),
    Route("author_step_history", A + "/steps/{step}/history/",
          get=" login  403    403    403    200    200",
          post=GET_ONLY),
    Route("author_step_revision", A + "/steps/{step}/history/{revision}/",
          get=" login  403    403    403    200    200",
          post=GET_ONLY),
    Route("author_exercise_new", A + "/steps/{step}/new-exercise/",
          get=" login  403    403    403    200    200",
          post="login  403    403    403    422    422"),
    Route("author_probe_new", A + "/steps/{step}/new-probe/",
          get=" login  403    403    403    200    200",
          post="login  403    403    403    422    422"),
    Route("author_exercise", A + "/steps/{step}/exercises/{exercise}/",
          get=" login  403    403    403    200    200",
          post="login  403    403    403    422    422"),
    Route("author_exercise_move", A + "/steps/{step}/exercises/{exercise}/move/",
          get=POST_ONLY,
          post="login  403    403    403    302    302",
          data={"direction": "down"}),
    Route("author_exercise_delete", A + "/steps/{step}/exercises/{exercise}/delete/",
          get=POST_ONLY,
          post="login  403    403    403    302    302"),
    Route("author_concepts", A + "/concepts/",
          get=" login  403    403    403    200    200",
          post="login  403    403    403    302    302",
          data={"slug": "new-concept", "name": "New concept", "description": "d"}),
    Route("author_concept_graph", A + "/concepts/graph.svg",
          get=" login  403    403    403    200    200",
          post=GET_ONLY),
    Route("author_concept", A + "/concepts/{concept}/",
          get=" login  403    403    403    200    200",
          post="login  403    403    403    302    302",
          data={"slug": "character-counts", "name": "Counts", "description": "d"}),
    Route("author_concept_delete", A + "/concepts/{concept}/delete/",
          get=" login  403    403    403    200    200",
          post="login  403    403    403    302    302"),

    # The admin (every admin/ route is staff only; these rows try some): anyone else is sent to
    # the admin's log-in, which tells a logged-in non-staff user they may not use it.
    Route("admin:index", "/admin/",
          get=" admin-login admin-login admin-login admin-login admin-login 200",
          post="admin-login admin-login admin-login admin-login admin-login 200"),
    Route("admin:login", "/admin/login/",
          get=" 200    200    200    200    200    302",
          post="302    302    302    302    302    302",
          data={"username": "staff", "password": PASSWORD}),
    Route("admin:accounts_user_changelist", "/admin/accounts/user/",
          get=" admin-login admin-login admin-login admin-login admin-login 200",
          post="admin-login admin-login admin-login admin-login admin-login 200"),
    Route("admin:accounts_user_change", "/admin/accounts/user/{student_id}/change/",
          get=" admin-login admin-login admin-login admin-login admin-login 200",
          post="admin-login admin-login admin-login admin-login admin-login 200"),
]
# fmt: on

# fmt: off
SOCKETS = [
    #                             outcomes:  anon   student other  ta     instr  staff
    # Live notifications: anyone logged in, to their own group.
    Socket("ws/notifications/", "/ws/notifications/",
                                              "4401   open   open   open   open   open"),
    # The TA chat of a course or of one of its steps: like the step pages.
    Socket("ws/ta/<slug:slug>/", "/ws/ta/{course}/",
                                              "4401   open   4403   open   open   open"),
    Socket("ws/ta/<slug:slug>/<slug:step>/", "/ws/ta/{course}/{step}/",
                                              "4401   open   4403   open   open   open"),
]
# fmt: on

from django.contrib import admin

from tutor.models import Enrollment


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin[Enrollment]):
    list_display = ("user", "course", "role", "created_at")
    list_filter = ("role", "course")

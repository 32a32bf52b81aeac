from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tutor", "0009_insights"),
    ]

    operations = [
        migrations.AddField(
            model_name="attempt",
            name="on_mastered_ground",
            field=models.BooleanField(
                default=False,
                help_text="Every concept of the exercise was already mastered when this answer was graded: it was a review, and the next suggestion is not another due review.",
            ),
        ),
    ]

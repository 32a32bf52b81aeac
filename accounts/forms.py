from django import forms

from accounts.models import User
from tutor.prompting import LANGUAGE_NAMES


class ProfileForm(forms.ModelForm[User]):
    preferred_language = forms.ChoiceField(
        required=False,
        choices=[
            ("", "The language I write in"),
            *sorted(LANGUAGE_NAMES.items(), key=lambda i: i[1]),
        ],
        help_text="The TA answers in it, and steps can be shown machine-translated into it.",
    )

    class Meta:
        model = User
        fields = ["first_name", "last_name", "preferred_language"]

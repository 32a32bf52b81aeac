from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.forms import ProfileForm
from accounts.services import profile_update
from eureka.http import AuthenticatedHttpRequest


@require_http_methods(["GET", "POST"])
@login_required
def profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST":
        if form.is_valid():
            profile_update(user=request.user, **form.cleaned_data)
            messages.success(request, "Your profile is saved.")
            return redirect("profile")
        return render(request, "accounts/profile.html", {"form": form}, status=422)
    return render(request, "accounts/profile.html", {"form": form})

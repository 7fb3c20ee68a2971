from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from workspaces.forms import EmailLoginForm

from . import views

app_name = "accounts"

urlpatterns = [
    path("signup", views.sign_up, name="sign_up"),
    path("signup/<str:token>", views.confirm_sign_up, name="confirm_sign_up"),
    path(
        "login",
        auth_views.LoginView.as_view(redirect_authenticated_user=True, authentication_form=EmailLoginForm),
        name="login",
    ),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password",
        auth_views.PasswordChangeView.as_view(success_url=reverse_lazy("accounts:password_change_done")),
        name="password_change",
    ),
    path("password/done", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset", views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<str:uidb64>/<str:token>",
        auth_views.PasswordResetConfirmView.as_view(success_url=reverse_lazy("accounts:password_reset_complete")),
        name="password_reset_confirm",
    ),
    path("password/reset/done", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]

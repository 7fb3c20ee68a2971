from django.urls import path

from . import views

app_name = "workspaces"

urlpatterns = [
    path("app", views.home, name="home"),
    path("app/new", views.create, name="create"),
    path("app/<slug:ws>", views.detail, name="detail"),
    path("app/<slug:ws>/projects/<slug:slug>", views.project, name="project"),
]

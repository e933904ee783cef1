"""URLconf of the jobs tests: the admin and tethys_compute's own URLs, as a portal has them."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("compute/", include("tethys_compute.urls")),
]

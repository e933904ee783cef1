from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

# The example portal has no pages of its own: the admin's "View site" goes to the admin.
admin.site.site_url = "/admin/"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # tethys-compute: the signed job status callbacks (see the jobs docs).
    path("compute/", include("tethys_compute.urls")),
]

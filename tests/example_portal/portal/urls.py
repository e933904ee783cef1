from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # tethys-compute: the signed job status callbacks (see the jobs docs).
    path("compute/", include("tethys_compute.urls")),
]

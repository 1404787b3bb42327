from django.conf import settings
from django.conf.urls import include
from django.contrib import admin
from django.urls import path, re_path, reverse_lazy
from django.views.static import serve
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url=reverse_lazy("list_index"))),
    path("postorius/", include("postorius.urls")),
    path("hyperkitty/", include("hyperkitty.urls")),
    path("", include("django_mailman3.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    # What collectstatic and the compressor wrote; runserver is started
    # with --nostatic so that this, not its finders, serves them.
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": settings.STATIC_ROOT}),
]

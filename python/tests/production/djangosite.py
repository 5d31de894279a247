"""A one-module Django site for the production-shape tests: its settings, URLs and views, and
its WSGI and ASGI applications. The S3 server and the location come from the environment the
test sets (S3CACHE_SITE_*).

    gunicorn --chdir python/tests/production djangosite:wsgi
    uvicorn --app-dir python/tests/production djangosite:asgi
"""

import os

from django.conf import settings

# S3CACHE_SITE_BACKEND=file swaps in Django's FileBasedCache, the baseline that
# python/bench/worker_memory.py measures workers against.
if os.environ.get("S3CACHE_SITE_BACKEND") == "file":
    CACHE = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.environ["S3CACHE_SITE_LOCATION"],
    }
else:
    CACHE = {
        "BACKEND": "s3cache.django.S3Cache",
        "LOCATION": os.environ["S3CACHE_SITE_LOCATION"],
        "OPTIONS": {
            "STORAGE_BUCKET_NAME": os.environ["S3CACHE_SITE_BUCKET"],
            "ENDPOINT_URL": os.environ["S3CACHE_SITE_ENDPOINT"],
            "ACCESS_KEY_ID": os.environ["S3CACHE_SITE_ACCESS_KEY_ID"],
            "SECRET_ACCESS_KEY": os.environ["S3CACHE_SITE_SECRET_ACCESS_KEY"],
            "AUTO_CREATE_BUCKET": True,
            "MAX_ENTRIES": "unlimited",
        },
    }

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="production-shape-tests",
    USE_TZ=True,
    INSTALLED_APPS=["django.contrib.sessions"],
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
    SESSION_ENGINE="django.contrib.sessions.backends.cache",
    CACHES={"default": CACHE},
)

import django  # noqa: E402

django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.cache import cache_page  # noqa: E402


def incr(request):
    """Adds one to the counter named `?key=` (created at 0) and answers the new value."""
    key = request.GET["key"]
    cache.add(key, 0)
    return HttpResponse(str(cache.incr(key)))


async def aincr(request):
    """`incr` through the async API."""
    key = request.GET["key"]
    await cache.aadd(key, 0)
    return HttpResponse(str(await cache.aincr(key)))


def session(request):
    """Counts this session's requests, kept in the cache-backed session."""
    request.session["n"] = request.session.get("n", 0) + 1
    return HttpResponse(str(request.session["n"]))


@cache_page(60)
def page(request):
    """A page whose body says which process made it, cached for a minute."""
    return HttpResponse(f"made by {os.getpid()} {os.urandom(8).hex()}")


urlpatterns = [
    path("incr", incr),
    path("aincr", aincr),
    path("session", session),
    path("page", page),
]

wsgi = get_wsgi_application()
asgi = get_asgi_application()

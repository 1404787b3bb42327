"""A private HyperKitty for the tests: SQLite under HK_DATA, loopback,
the archiver key and this core's REST API from the environment, Django
Q's tasks run in the request (no cluster to start)."""
import os
BASE_DIR = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ["HK_DATA"]
SECRET_KEY = "test-only"
DEBUG = True
SITE_ID = 1
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
MAILMAN_REST_API_URL = os.environ.get("MAILMAN_REST_API_URL", "http://127.0.0.1:8001")
MAILMAN_REST_API_USER = "restadmin"
MAILMAN_REST_API_PASS = os.environ.get("MAILMAN_REST_API_PASS", "restpass")
MAILMAN_ARCHIVER_KEY = os.environ["MAILMAN_ARCHIVER_KEY"]
MAILMAN_ARCHIVER_FROM = ("127.0.0.1", "::1")
INSTALLED_APPS = (
    "hyperkitty", "django_mailman3", "django.contrib.admin", "django.contrib.auth",
    "django.contrib.contenttypes", "django.contrib.sessions", "django.contrib.sites",
    "django.contrib.messages", "django.contrib.staticfiles", "rest_framework",
    "django_gravatar", "compressor", "haystack", "django_extensions", "django_q",
    "allauth", "allauth.account", "allauth.socialaccount",
)
MIDDLEWARE = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
)
ROOT_URLCONF = "hksite.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [], "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.debug", "django.template.context_processors.i18n",
        "django.template.context_processors.media", "django.template.context_processors.static",
        "django.template.context_processors.tz", "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth", "django.contrib.messages.context_processors.messages",
        "django_mailman3.context_processors.common", "hyperkitty.context_processors.common",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(DATA, "hyperkitty.db")}}
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
Q_CLUSTER = {"timeout": 300, "retry": 360, "save_limit": 100, "orm": "default", "sync": True}
STATIC_URL = "/static/"
STATIC_ROOT = os.path.join(DATA, "static")
STATICFILES_FINDERS = ("django.contrib.staticfiles.finders.FileSystemFinder", "django.contrib.staticfiles.finders.AppDirectoriesFinder", "compressor.finders.CompressorFinder")
COMPRESS_ENABLED = False
COMPRESS_OFFLINE = False
USE_TZ = True
LOGIN_URL = "account_login"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING = {"version": 1, "disable_existing_loggers": False, "handlers": {"console": {"class": "logging.StreamHandler"}},
           "loggers": {"hyperkitty": {"handlers": ["console"], "level": "INFO"}, "django.request": {"handlers": ["console"], "level": "WARNING"}}}

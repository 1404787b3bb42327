"""A private Postorius and HyperKitty for the tests, as one Django site the
way Debian and mailman-web run them: SQLite under WEB_DATA, loopback, this
core's REST API and the archiver key from the environment, Django Q's
tasks run in the request (no cluster to start), mail Django itself sends
(allauth's) written to WEB_DATA/mail. Static files are collected into
WEB_DATA/static and served from there, as nginx serves them on a site."""
import os

DATA = os.environ["WEB_DATA"]
SECRET_KEY = "test-only"
DEBUG = True
SITE_ID = 1
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
MAILMAN_REST_API_URL = os.environ.get("MAILMAN_REST_API_URL", "http://127.0.0.1:8001")
MAILMAN_REST_API_USER = "restadmin"
MAILMAN_REST_API_PASS = os.environ.get("MAILMAN_REST_API_PASS", "restpass")
MAILMAN_ARCHIVER_KEY = os.environ["MAILMAN_ARCHIVER_KEY"]
MAILMAN_ARCHIVER_FROM = ("127.0.0.1", "::1")
# Where the core fetches the templates edited on Postorius's Templates
# pages (its /postorius/api/templates/ view): this site itself.
POSTORIUS_TEMPLATE_BASE_URL = os.environ.get("POSTORIUS_TEMPLATE_BASE_URL", "http://127.0.0.1:8000")
INSTALLED_APPS = (
    "hyperkitty", "postorius", "django_mailman3", "django.contrib.admin", "django.contrib.auth",
    "django.contrib.contenttypes", "django.contrib.sessions", "django.contrib.sites",
    "django.contrib.messages", "django.contrib.staticfiles", "rest_framework",
    "django_gravatar", "compressor", "haystack", "django_extensions", "django_q",
    "allauth", "allauth.account", "allauth.socialaccount",
)
MIDDLEWARE = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_mailman3.middleware.TimezoneMiddleware",
    "postorius.middleware.PostoriusMiddleware",
)
ROOT_URLCONF = "website.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [], "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.debug", "django.template.context_processors.i18n",
        "django.template.context_processors.media", "django.template.context_processors.static",
        "django.template.context_processors.tz", "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth", "django.contrib.messages.context_processors.messages",
        "django_mailman3.context_processors.common", "hyperkitty.context_processors.common",
        "postorius.context_processors.postorius",
    ]},
}]
AUTHENTICATION_BACKENDS = (
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
)
# The site admin is made by createsuperuser; allauth would otherwise ask
# them to confirm an address before signing in.
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_AUTHENTICATION_METHOD = "username_email"
ACCOUNT_EMAIL_REQUIRED = True
ACCOUNT_UNIQUE_EMAIL = True
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.path.join(DATA, "mail")
DEFAULT_FROM_EMAIL = "postorius@example.com"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(DATA, "web.db")}}
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
Q_CLUSTER = {"timeout": 300, "retry": 360, "save_limit": 100, "orm": "default", "sync": True}
STATIC_URL = "/static/"
STATIC_ROOT = os.path.join(DATA, "static")
STATICFILES_FINDERS = ("django.contrib.staticfiles.finders.FileSystemFinder", "django.contrib.staticfiles.finders.AppDirectoriesFinder", "compressor.finders.CompressorFinder")
# HyperKitty's templates only work compressed: its script tags are
# self-closing, which browsers read as unclosed unless the compressor
# joins them into one file.
COMPRESS_ENABLED = True
COMPRESS_OFFLINE = False
# Avatars would be fetched from gravatar.com; the tests stay on loopback.
HYPERKITTY_ENABLE_GRAVATAR = False
USE_TZ = True
TIME_ZONE = "UTC"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "list_index"
LOGOUT_URL = "account_logout"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING = {"version": 1, "disable_existing_loggers": False, "handlers": {"console": {"class": "logging.StreamHandler"}},
           "loggers": {"hyperkitty": {"handlers": ["console"], "level": "INFO"}, "postorius": {"handlers": ["console"], "level": "INFO"},
                       "django.request": {"handlers": ["console"], "level": "WARNING"}}}

import os

from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def index(request):
    return JsonResponse(
        {
            "migrated": "notes_note" in connection.introspection.table_names(),
            "collected": (settings.STATIC_ROOT / "hello.txt").is_file(),
            "release": os.environ.get("DEPLOYD_RELEASE"),
        }
    )

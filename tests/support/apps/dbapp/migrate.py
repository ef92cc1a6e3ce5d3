"""The app's migrations, as its `release:` command: makes its table in DATABASE_URL's
database (deployed before it had one: nothing to do then)."""

import os
import subprocess
import sys

url = os.environ.get("DATABASE_URL")
if not url:
    print("no DATABASE_URL yet: nothing to migrate")
    sys.exit(0)
statement = "CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text)"
subprocess.run(["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", statement], check=True)
print("migrated: items is there")

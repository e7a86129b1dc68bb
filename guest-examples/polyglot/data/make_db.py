"""Builds quotes.db (in the current directory, or at the path given) from quotes.sql.

Run by each polyglot example's `build` command in its code dir, so the database is deployed
with the code and no binary file is committed. Rebuilds from scratch every time.
"""

import os
import sqlite3
import sys

here = os.path.dirname(os.path.abspath(__file__))
target = sys.argv[1] if len(sys.argv) > 1 else "quotes.db"
if os.path.exists(target):
    os.remove(target)
with open(os.path.join(here, "quotes.sql"), encoding="utf-8") as f:
    script = f.read()
db = sqlite3.connect(target)
db.executescript(script)
db.commit()
db.close()

"""Lists, per credential, the operations that never got a 2xx from the credential that owns them
(the document's `security`: user, advertiser or admin; open operations belong to every credential).
Exits 1 when a list is not empty.

Usage: unreached.py OPENAPI_JSON CALLS_TSV
"""

import json
import sys
from collections import defaultdict

CREDENTIALS = ("user", "advertiser", "admin")


def owners(operation):
    security = operation.get("security")
    if security == []:
        return set(CREDENTIALS)
    return {name for requirement in security or [] for name in requirement}


def main():
    document = json.load(open(sys.argv[1], encoding="utf-8"))
    succeeded = defaultdict(set)
    calls = defaultdict(int)
    for line in open(sys.argv[2], encoding="utf-8"):
        credential, operation, status = line.rstrip("\n").split("\t")
        calls[credential] += 1
        if status.startswith("2"):
            succeeded[credential].add(operation)
    missing = False
    for credential in CREDENTIALS:
        owned = [
            f"{method.upper()} {path}"
            for path, item in document["paths"].items()
            for method, operation in item.items()
            if credential in owners(operation)
        ]
        unreached = sorted(op for op in owned if op not in succeeded[credential])
        reached = len(owned) - len(unreached)
        print(f"{credential}: {calls[credential]} calls; {reached} of {len(owned)} owned operations got a 2xx")
        for op in unreached:
            print(f"  never a 2xx: {op}")
        missing = missing or bool(unreached)
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()

"""Run every benchmark (`python -m benchmarks`), or the named ones (`python -m benchmarks transport music`);
options after the names go to each of them (`python -m benchmarks music --runs 3`)."""
import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
known = sorted(p.parent.name for p in here.glob("*/__main__.py"))
args = sys.argv[1:]
split = next((i for i, a in enumerate(args) if a.startswith("-")), len(args))
names, options = args[:split] or known, args[split:]
unknown = [n for n in names if n not in known]
if unknown:
    sys.exit(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(known)}")
failed = 0
for name in names:
    print(f"\n== benchmarks.{name}", flush=True)
    failed |= subprocess.call([sys.executable, "-m", f"benchmarks.{name}", *options], cwd=here.parent)
sys.exit(failed)

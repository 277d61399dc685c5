"""Run every benchmark (`python -m benchmarks`), or the named ones (`python -m benchmarks transport`)."""
import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
names = sys.argv[1:] or sorted(p.parent.name for p in here.glob("*/__main__.py"))
failed = 0
for name in names:
    print(f"\n== benchmarks.{name}", flush=True)
    failed |= subprocess.call([sys.executable, "-m", f"benchmarks.{name}"], cwd=here.parent)
sys.exit(failed)

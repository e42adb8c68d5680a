"""`python -m benchmarks`: every benchmark and one table (benchmarks/run_all.py)."""

from benchmarks.run_all import main

main()

"""`python -m freshet.cli`: the same as the `freshet` command (bench/stack.py starts the simulator so)."""

from freshet.cli import main

main()

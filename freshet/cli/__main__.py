"""`python -m freshet.cli …`: the `freshet` command (the bench starts its simulator so)."""

from freshet.cli import main

main()

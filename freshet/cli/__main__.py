"""`python -m freshet.cli …` is the `freshet` command."""

from freshet.cli import main

main()

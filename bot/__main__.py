"""`python -m bot` is `augnes`."""

from bot.cli import main

main()

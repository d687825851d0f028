"""The explorer's screens: main (four panes), pattern docs, scoreboard and modals."""

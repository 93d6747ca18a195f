"""The panes and the status bar of the main screen."""

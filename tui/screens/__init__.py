"""Modal screens: sources, assets, alarms, work orders, feedback and help."""

"""Front ends of the `tvssl` verbs that are not LightningCLI subcommands."""

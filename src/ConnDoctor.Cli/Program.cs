using ConnDoctor.Cli;

return Cli.Run(args, CliIo.FromConsole());

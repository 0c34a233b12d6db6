package org.fastvm.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code fastvm} command. */
@Command(
        name = "fastvm",
        mixinStandardHelpOptions = true,
        version = "fastvm 0.1.0",
        description =
                "FastVM: self-hosted microVMs. 'fastvm serve' runs the control plane; keys and quota administer it; ls, launch, run, rm and quotas use it.",
        subcommands = {
            ServeCommand.class,
            KeysCommand.class,
            QuotaCommand.class,
            ClientCommands.Ls.class,
            ClientCommands.Launch.class,
            ClientCommands.Run.class,
            ClientCommands.Rm.class,
            ClientCommands.Quotas.class,
            CommandLine.HelpCommand.class
        })
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Entry point. */
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code (for tests). */
    public static int run(String... args) {
        return commandLine().execute(args);
    }

    /** {@return the configured command line (parsing rules and error handling)} */
    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        // `fastvm run VM uname -m`: everything after the VM id belongs to the command.
        cl.getSubcommands().get("run").setStopAtPositional(true);
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("fastvm: " + (e.getMessage() != null ? e.getMessage() : e.toString()));
            return 1;
        });
        return cl;
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}

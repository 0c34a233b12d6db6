package org.fastvm.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code fastvm} command. */
@Command(name = "fastvm", mixinStandardHelpOptions = true, version = "fastvm 0.1.0",
        description = "FastVM: self-hosted microVMs. 'fastvm serve' runs the control plane; the other commands administer it.",
        subcommands = {ServeCommand.class, KeysCommand.class, QuotaCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Entry point. */
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code (for tests). */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("fastvm: " + (e.getMessage() != null ? e.getMessage() : e.toString()));
            return 1;
        });
        return cl.execute(args);
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}

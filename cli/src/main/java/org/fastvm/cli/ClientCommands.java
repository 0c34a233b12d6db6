package org.fastvm.cli;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.Callable;
import org.fastvm.sdk.FastVM;
import org.fastvm.sdk.LaunchOptions;
import org.fastvm.sdk.RunOptions;
import org.fastvm.sdk.models.ExecEvent;
import org.fastvm.sdk.models.OrgQuotaUsage;
import org.fastvm.sdk.models.VM;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Client commands over the Java SDK: ls, launch, run, rm, quotas. */
final class ClientCommands {
    private ClientCommands() {}

    @Command(name = "ls", mixinStandardHelpOptions = true, description = "List your VMs.")
    static final class Ls implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Override
        public Integer call() {
            try (FastVM c = client.connect()) {
                System.out.print(table(c.list()));
                return 0;
            }
        }

        /** {@return the listing: one row per VM, columns as wide as their content (names are UUIDs by default)} */
        static String table(List<VM> vms) {
            Table t = new Table("ID", "NAME", "TYPE", "STATUS", "CREATED");
            for (VM v : vms) {
                t.row(
                        v.id(),
                        v.name(),
                        v.machineName(),
                        v.status().toString().toLowerCase(java.util.Locale.ROOT),
                        v.createdAt());
            }
            return t.render();
        }
    }

    @Command(
            name = "launch",
            mixinStandardHelpOptions = true,
            description = "Launch a VM and wait until it runs; prints its id.")
    static final class Launch implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Option(
                names = "--machine",
                defaultValue = "c1m2",
                description = "c1m2, c2m4, c4m8 or c8m16 (default ${DEFAULT-VALUE}).")
        String machine;

        @Option(names = "--name", description = "VM name.")
        String name;

        @Option(names = "--disk-gib", description = "Disk size (≥ 10).")
        Integer diskGib;

        @Override
        public Integer call() {
            try (FastVM c = client.connect()) {
                LaunchOptions.Builder b = LaunchOptions.builder().machine(machine);
                if (name != null) b.name(name);
                if (diskGib != null) b.diskGib(diskGib);
                System.out.println(c.launch(b.build()).id());
                return 0;
            }
        }
    }

    @Command(
            name = "run",
            mixinStandardHelpOptions = true,
            description = "Run a command in a VM, streaming its output; exits with the command's exit code.")
    static final class Run implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Option(names = "--timeout-sec", description = "Kill the command after this long.")
        Integer timeoutSec;

        @Parameters(index = "0", paramLabel = "VM_ID")
        String vmId;

        @Parameters(
                index = "1..*",
                paramLabel = "COMMAND",
                arity = "1..*",
                description = "Program and arguments (one argument = a shell command line).")
        List<String> command;

        @Override
        public Integer call() throws IOException {
            try (FastVM c = client.connect()) {
                RunOptions.Builder o = RunOptions.builder();
                if (timeoutSec != null) o.timeoutSec(timeoutSec);
                List<String> argv = argv(command);
                try (var stream = c.stream(vmId, argv, o.build())) {
                    for (ExecEvent e : stream) {
                        if (e instanceof ExecEvent.Stdout out) {
                            System.out.write(out.data());
                            System.out.flush();
                        } else if (e instanceof ExecEvent.Stderr err) {
                            System.err.write(err.data());
                            System.err.flush();
                        } else if (e instanceof ExecEvent.Exit x) {
                            if (x.timedOut()) System.err.println("fastvm: command timed out");
                            return x.code();
                        }
                    }
                }
                throw new IllegalStateException("the stream ended without an exit event");
            }
        }

        /**
         * The argv to run: one word is a shell command line; a leading {@code --} is dropped
         * (stop-at-positional parsing keeps it, but users write {@code run VM -- cmd args}).
         */
        static List<String> argv(List<String> words) {
            List<String> w = !words.isEmpty() && words.get(0).equals("--") ? words.subList(1, words.size()) : words;
            if (w.isEmpty())
                throw new picocli.CommandLine.ParameterException(
                        new picocli.CommandLine(new Run()),
                        "COMMAND: give a program (and its arguments) or one shell command line");
            return w.size() == 1 ? List.of("sh", "-c", w.get(0)) : List.copyOf(w);
        }
    }

    @Command(name = "rm", mixinStandardHelpOptions = true, description = "Delete VMs.")
    static final class Rm implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Parameters(paramLabel = "VM_ID", arity = "1..*")
        List<String> ids;

        @Override
        public Integer call() {
            try (FastVM c = client.connect()) {
                for (String id : ids) {
                    c.remove(id);
                    System.out.println("deleted " + id);
                }
                return 0;
            }
        }
    }

    @Command(name = "quotas", mixinStandardHelpOptions = true, description = "Show your org's limits and usage.")
    static final class Quotas implements Callable<Integer> {
        @Mixin
        ClientOptions client;

        @Override
        public Integer call() {
            try (FastVM c = client.connect()) {
                OrgQuotaUsage q = c.quotas();
                System.out.printf("%-14s %10s %10s%n", "RESOURCE", "USED", "LIMIT");
                System.out.printf(
                        "%-14s %10d %10d%n",
                        "vcpu", q.usage().vcpu(), q.limits().vcpu());
                System.out.printf(
                        "%-14s %10d %10d%n",
                        "memoryMiB", q.usage().memoryMib(), q.limits().memoryMib());
                System.out.printf(
                        "%-14s %10d %10d%n",
                        "diskGiB", q.usage().diskGib(), q.limits().diskGib());
                System.out.printf(
                        "%-14s %10d %10d%n",
                        "snapshotCount", q.usage().snapshotCount(), q.limits().snapshotCount());
                return 0;
            }
        }
    }
}

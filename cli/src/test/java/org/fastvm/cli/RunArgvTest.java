package org.fastvm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** How `fastvm run VM ...` turns its words into the argv sent to the VM. */
class RunArgvTest {
    @Test
    void oneWordIsAShellCommandLine() {
        assertEquals(List.of("sh", "-c", "echo $HOME"), ClientCommands.Run.argv(List.of("echo $HOME")));
    }

    @Test
    void severalWordsAreTheArgv() {
        assertEquals(List.of("uname", "-r"), ClientCommands.Run.argv(List.of("uname", "-r")));
    }

    @Test
    void aLeadingDoubleDashIsDropped() {
        assertEquals(List.of("sh", "-c", "echo hi"), ClientCommands.Run.argv(List.of("--", "sh", "-c", "echo hi")));
        assertEquals(List.of("sh", "-c", "ls -l"), ClientCommands.Run.argv(List.of("--", "ls -l")));
    }

    @Test
    void nothingAfterTheDoubleDashIsRefused() {
        CommandLine.ParameterException e =
                assertThrows(CommandLine.ParameterException.class, () -> ClientCommands.Run.argv(List.of("--")));
        assertEquals(true, e.getMessage().startsWith("COMMAND:"), e.getMessage());
    }
}

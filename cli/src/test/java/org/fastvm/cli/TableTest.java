package org.fastvm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Columns sized to content, so 36-character UUID names stay aligned. */
class TableTest {
    @Test
    void columnsAreAsWideAsTheirWidestCell() {
        String uuidName = "0b9c3f0e-4a5e-4c7e-9d43-5a2f3b1c7e11";
        String out = new Table("ID", "NAME", "TYPE", "STATUS")
                .row("id-1", uuidName, "c1m2", "running")
                .row("id-22", "web", "c8m16", null)
                .render();
        List<String> lines = out.lines().toList();
        assertEquals("ID     NAME                                  TYPE   STATUS", lines.get(0));
        assertEquals("id-1   " + uuidName + "  c1m2   running", lines.get(1));
        assertEquals("id-22  web                                   c8m16  -", lines.get(2));
        int statusColumn = lines.get(0).indexOf("STATUS");
        assertEquals(statusColumn, lines.get(1).indexOf("running"));
        assertEquals(statusColumn, lines.get(2).indexOf("-", statusColumn - 1));
    }

    @Test
    void aRowMustMatchTheHeader() {
        assertThrows(IllegalArgumentException.class, () -> new Table("A", "B").row("only one"));
    }
}

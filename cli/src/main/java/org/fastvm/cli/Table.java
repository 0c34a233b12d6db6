package org.fastvm.cli;

import java.util.ArrayList;
import java.util.List;

/** A plain-text table whose columns are as wide as their widest cell (ids and UUID names never overflow). */
final class Table {
    private static final String GAP = "  ";
    private final List<String> header;
    private final List<List<String>> rows = new ArrayList<>();

    Table(String... header) {
        this.header = List.of(header);
    }

    /** Adds a row; null cells print as "-". */
    Table row(Object... cells) {
        if (cells.length != header.size()) {
            throw new IllegalArgumentException("row has " + cells.length + " cells, header has " + header.size());
        }
        List<String> r = new ArrayList<>(cells.length);
        for (Object c : cells) r.add(c == null ? "-" : c.toString());
        rows.add(r);
        return this;
    }

    /** {@return the header and rows, one line each, columns padded to their widest cell, no trailing spaces} */
    String render() {
        int[] width = new int[header.size()];
        for (int i = 0; i < width.length; i++) width[i] = header.get(i).length();
        for (List<String> r : rows)
            for (int i = 0; i < width.length; i++)
                width[i] = Math.max(width[i], r.get(i).length());
        StringBuilder out = new StringBuilder();
        line(out, header, width);
        for (List<String> r : rows) line(out, r, width);
        return out.toString();
    }

    private static void line(StringBuilder out, List<String> cells, int[] width) {
        StringBuilder l = new StringBuilder();
        for (int i = 0; i < cells.size(); i++) {
            if (i > 0) l.append(GAP);
            l.append(cells.get(i));
            if (i < cells.size() - 1)
                l.append(" ".repeat(width[i] - cells.get(i).length()));
        }
        out.append(l.toString().stripTrailing()).append(System.lineSeparator());
    }
}

package org.fastvm.sdk;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.models.ExecEvent;

/**
 * The events of a running command, read as they arrive: {@link ExecEvent.Stdout} and
 * {@link ExecEvent.Stderr} chunks, then exactly one {@link ExecEvent.Exit}. Iterate it once,
 * and close it (try-with-resources) to release the HTTP stream, also when stopping early.
 *
 * <pre>{@code
 * try (ExecStream events = client.stream(vm, "make test")) {
 *   for (ExecEvent e : events) {
 *     if (e instanceof ExecEvent.Stdout out) System.out.write(out.data());
 *     else if (e instanceof ExecEvent.Exit exit) System.out.println("exit " + exit.code());
 *   }
 * }
 * }</pre>
 */
public final class ExecStream implements Iterable<ExecEvent>, AutoCloseable {
    private final BufferedReader reader;
    private final String what;
    private boolean iterated;
    private ExecEvent next;
    private ExecEvent.Exit exit;

    ExecStream(InputStream body, String what) {
        this.reader = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8));
        this.what = what;
    }

    /**
     * The events, in order. Reading blocks until the next event arrives. Ends after the exit
     * event; a stream that ends without one fails with {@link FastVMConnectionException}.
     *
     * @return the single-use iterator
     * @throws IllegalStateException when called twice
     */
    @Override
    public synchronized Iterator<ExecEvent> iterator() {
        if (iterated) throw new IllegalStateException("an ExecStream can be iterated only once");
        iterated = true;
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return advance();
            }

            @Override
            public ExecEvent next() {
                if (!advance()) throw new NoSuchElementException();
                ExecEvent e = next;
                next = null;
                return e;
            }
        };
    }

    /**
     * The events as a sequential {@link Stream}; closing the stream closes this object.
     *
     * @return the event stream (single use)
     */
    public Stream<ExecEvent> stream() {
        return StreamSupport.stream(
                        Spliterators.spliteratorUnknownSize(iterator(), Spliterator.ORDERED | Spliterator.NONNULL),
                        false)
                .onClose(this::close);
    }

    /**
     * The exit event, once the iteration has reached it.
     *
     * @return the exit event, or {@code null} before the end
     */
    public ExecEvent.Exit exit() {
        return exit;
    }

    private boolean advance() {
        if (next != null) return true;
        if (exit != null) return false;
        try {
            String line;
            while ((line = reader.readLine()) != null) {
                ExecEvent e = Ndjson.parse(line);
                if (e == null) continue;
                if (e instanceof ExecEvent.Exit x) exit = x;
                next = e;
                return true;
            }
        } catch (IOException e) {
            throw new FastVMConnectionException(what + ": exec stream broke: " + e, e);
        }
        throw new FastVMConnectionException(what + ": exec stream ended before the exit event", null);
    }

    /** Releases the HTTP stream; a command still running is not killed by this. */
    @Override
    public void close() {
        try {
            reader.close();
        } catch (IOException ignored) {
            // Closing cancels the HTTP/2 stream; nothing useful to report.
        }
    }
}

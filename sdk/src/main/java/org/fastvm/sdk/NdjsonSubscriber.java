package org.fastvm.sdk;

import java.io.ByteArrayOutputStream;
import java.net.http.HttpResponse.BodySubscriber;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;
import java.util.function.Consumer;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.models.ExecEvent;

/** Push-side reader of the exec stream: splits bytes into lines and hands events to a callback. */
final class NdjsonSubscriber implements BodySubscriber<ExecEvent.Exit> {
    private final Consumer<? super ExecEvent> onEvent;
    private final String what;
    private final CompletableFuture<ExecEvent.Exit> result = new CompletableFuture<>();
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();
    private Flow.Subscription subscription;
    private ExecEvent.Exit exit;
    private volatile Throwable failure;

    NdjsonSubscriber(Consumer<? super ExecEvent> onEvent, String what) {
        this.onEvent = onEvent;
        this.what = what;
    }

    /** Why this subscriber gave up (bad line or callback failure); the HTTP client then reports a cancel. */
    Throwable failure() {
        return failure;
    }

    @Override
    public CompletionStage<ExecEvent.Exit> getBody() {
        return result;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        subscription = s;
        s.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(List<ByteBuffer> buffers) {
        if (result.isDone()) return;
        try {
            for (ByteBuffer b : buffers) {
                while (b.hasRemaining()) {
                    byte c = b.get();
                    if (c == '\n') flushLine();
                    else line.write(c);
                }
            }
        } catch (RuntimeException e) { // a bad line, or the caller's callback threw
            failure = e;
            result.completeExceptionally(e);
            subscription.cancel();
        }
    }

    private void flushLine() {
        String text = line.toString(StandardCharsets.UTF_8);
        line.reset();
        ExecEvent e = Ndjson.parse(text);
        if (e == null || exit != null) return;
        if (e instanceof ExecEvent.Exit x) exit = x;
        onEvent.accept(e);
    }

    @Override
    public void onError(Throwable t) {
        result.completeExceptionally(new FastVMConnectionException(what + ": exec stream broke: " + t, t));
    }

    @Override
    public void onComplete() {
        if (result.isDone()) return;
        try {
            if (line.size() > 0) flushLine(); // last line without a newline
        } catch (RuntimeException e) {
            result.completeExceptionally(e);
            return;
        }
        if (exit == null) {
            result.completeExceptionally(
                    new FastVMConnectionException(what + ": exec stream ended before the exit event", null));
        } else {
            result.complete(exit);
        }
    }
}

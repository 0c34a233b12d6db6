package org.fastvm.bench;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Samples of one figure in the unit its key ends with ({@code _ms}, {@code _mib}, {@code _rps}),
 * summarised as median / min / max / n.
 *
 * @param samples the measured values
 */
public record Stats(List<Double> samples) {
    /** Copies the samples; there must be at least one. */
    public Stats {
        if (samples.isEmpty()) throw new IllegalArgumentException("samples: at least one is needed");
        samples = List.copyOf(samples);
    }

    /** {@return the median (mean of the middle two for an even count)} */
    public double median() {
        List<Double> s = sorted();
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    /** {@return the smallest sample} */
    public double min() {
        return Collections.min(samples);
    }

    /** {@return the largest sample} */
    public double max() {
        return Collections.max(samples);
    }

    /** {@return the number of samples} */
    public int n() {
        return samples.size();
    }

    private List<Double> sorted() {
        List<Double> s = new ArrayList<>(samples);
        Collections.sort(s);
        return s;
    }

    /** Rounds to one decimal for reports. */
    static double round(double v) {
        return Math.round(v * 10) / 10.0;
    }
}

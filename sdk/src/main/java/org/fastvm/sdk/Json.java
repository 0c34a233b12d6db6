package org.fastvm.sdk;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.module.SimpleModule;
import java.io.IOException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import org.fastvm.sdk.errors.FastVMConnectionException;

/** The one JSON mapping of the SDK: tolerant of unknown fields, ISO-8601 timestamps. */
final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, false)
            .registerModule(new SimpleModule("fastvm-time")
                    .addSerializer(Instant.class, new InstantSerializer())
                    .addDeserializer(Instant.class, new InstantDeserializer()));

    private Json() {}

    static byte[] write(Object body) {
        try {
            return MAPPER.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("request body cannot be written as JSON: " + e.getMessage(), e);
        }
    }

    /** Reads a 2xx body; an empty or {@code null} body is a broken response, not a value. */
    // T is the type that `type` describes, as in Jackson's own readValue(byte[], JavaType).
    @SuppressWarnings("TypeParameterUnusedInFormals")
    static <T> T read(byte[] body, JavaType type, String what) {
        try {
            T value = MAPPER.readValue(body, type);
            if (value == null) throw new FastVMConnectionException("empty JSON body in the response to " + what, null);
            return value;
        } catch (IOException e) {
            throw new FastVMConnectionException(
                    "unreadable JSON in the response to " + what + ": " + e.getMessage(), e);
        }
    }

    static JavaType type(Class<?> c) {
        return MAPPER.constructType(c);
    }

    static JavaType listOf(Class<?> c) {
        return MAPPER.getTypeFactory().constructCollectionType(java.util.List.class, c);
    }

    private static final class InstantSerializer extends JsonSerializer<Instant> {
        @Override
        public void serialize(Instant value, JsonGenerator gen, SerializerProvider p) throws IOException {
            gen.writeString(value.toString());
        }
    }

    /** Accepts {@code Z} and numeric offsets; the contract says UTF with {@code Z}. */
    private static final class InstantDeserializer extends JsonDeserializer<Instant> {
        @Override
        public Instant deserialize(JsonParser p, DeserializationContext ctx) throws IOException {
            String text = p.getValueAsString();
            if (text == null || text.isEmpty()) return null;
            try {
                return OffsetDateTime.parse(text).toInstant();
            } catch (DateTimeParseException e) {
                return (Instant) ctx.handleWeirdStringValue(Instant.class, text, "not an ISO-8601 timestamp");
            }
        }
    }
}

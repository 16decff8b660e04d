using System.Buffers;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.Metadata;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// 2xx JSON answers: the body is serialised in one synchronous pass (source-generated, <see cref="ApiJsonContext"/>)
/// into a per-thread buffer and written with its Content-Length. ASP.NET Core's own JSON results serialise
/// through the resumable async path and answer chunked, which cost more than the rest of a cached verify.
/// Each result type says what it produces, so the OpenAPI document is unchanged.
/// </summary>
internal static class JsonResults
{
    public static JsonOk<T> Ok<T>(T value) => new(value);

    public static JsonCreated<T> Created<T>(string location, T value) => new(location, value);

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    private const int KeepBufferUpTo = 64 * 1024;

    /// <summary><paramref name="value"/> as the bytes <see cref="WriteAsync{T}"/> would write, to keep and answer again.</summary>
    public static byte[] Render<T>(T value)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            JsonSerializer.Serialize(writer, value, TypeInfo<T>.Value);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Escapes only what JSON requires: the bodies are application/json, never HTML, so "+00:00" and
    /// "ada+tag@example.com" stay readable instead of "\u002B".
    /// </summary>
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        SkipValidation = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    internal static Task WriteAsync(HttpContext context, int status, byte[] utf8)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = utf8.Length;
        response.BodyWriter.Write(utf8);
        return response.BodyWriter.FlushAsync(context.RequestAborted).AsTask();
    }

    /// <summary>
    /// <paramref name="rendered"/>'s first <paramref name="keep"/> bytes, then what <paramref name="tail"/> writes (the
    /// rest of the object, with its closing brace): an answer most of which was rendered before.
    /// </summary>
    internal static Task WriteAsync(HttpContext context, int status, byte[] rendered, int keep, Action<IBufferWriter<byte>, Utf8JsonWriter> tail)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        var writer = t_writer ??= new Utf8JsonWriter(buffer, WriterOptions);
        try
        {
            buffer.Write(rendered.AsSpan(0, keep));
            writer.Reset(buffer);
            tail(buffer, writer);
            response.ContentLength = buffer.WrittenCount;
            response.BodyWriter.Write(buffer.WrittenSpan);
        }
        finally
        {
            if (buffer.Capacity > KeepBufferUpTo)
            {
                t_buffer = null;
                t_writer = null;
            }
            else
            {
                buffer.ResetWrittenCount();
            }
        }

        return response.BodyWriter.FlushAsync(context.RequestAborted).AsTask();
    }

    /// <summary><paramref name="value"/> through <paramref name="writer"/>, as the answers write it (source-generated).</summary>
    internal static void Serialize<T>(Utf8JsonWriter writer, T value)
    {
        JsonSerializer.Serialize(writer, value, TypeInfo<T>.Value);
#pragma warning disable CA1849 // The writer's target is an in-memory buffer: nothing blocks.
        writer.Flush();
#pragma warning restore CA1849
    }

    internal static Task WriteAsync<T>(HttpContext context, int status, T value)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";

        // Synchronous from here to the copy: the thread's buffer is never held across an await.
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        var writer = t_writer ??= new Utf8JsonWriter(buffer, WriterOptions);
        try
        {
            writer.Reset(buffer);
            JsonSerializer.Serialize(writer, value, TypeInfo<T>.Value);
#pragma warning disable CA1849 // The writer's target is an in-memory buffer: nothing blocks.
            writer.Flush();
#pragma warning restore CA1849
            response.ContentLength = buffer.WrittenCount;
            response.BodyWriter.Write(buffer.WrittenSpan);
        }
        finally
        {
            if (buffer.Capacity > KeepBufferUpTo)
            {
                t_buffer = null;
                t_writer = null;
            }
            else
            {
                buffer.ResetWrittenCount();
            }
        }

        return response.BodyWriter.FlushAsync(context.RequestAborted).AsTask();
    }

    private static class TypeInfo<T>
    {
        public static readonly JsonTypeInfo<T> Value = (JsonTypeInfo<T>)ApiJsonContext.Default.Options.GetTypeInfo(typeof(T));
    }
}

/// <summary>200 with <typeparamref name="T"/> as JSON (or its bytes, rendered before: <see cref="JsonResults.Render{T}"/>).</summary>
internal sealed class JsonOk<T> : IResult, IStatusCodeHttpResult, IEndpointMetadataProvider
{
    private readonly T? _value;
    private readonly byte[]? _rendered;
    private readonly int _keep;
    private readonly Action<System.Buffers.IBufferWriter<byte>, System.Text.Json.Utf8JsonWriter>? _tail;

    public JsonOk(T value) => _value = value;

    /// <summary>An answer whose body was rendered from a <typeparamref name="T"/> already.</summary>
    public JsonOk(byte[] rendered) => _rendered = rendered;

    /// <summary>An answer rendered before up to <paramref name="keep"/> bytes, the rest written by <paramref name="tail"/>.</summary>
    public JsonOk(byte[] rendered, int keep, Action<System.Buffers.IBufferWriter<byte>, System.Text.Json.Utf8JsonWriter> tail) =>
        (_rendered, _keep, _tail) = (rendered, keep, tail);

    public int? StatusCode => StatusCodes.Status200OK;

    public Task ExecuteAsync(HttpContext httpContext) => (_rendered, _tail) switch
    {
        (null, _) => JsonResults.WriteAsync(httpContext, StatusCodes.Status200OK, _value),
        (_, null) => JsonResults.WriteAsync(httpContext, StatusCodes.Status200OK, _rendered),
        _ => JsonResults.WriteAsync(httpContext, StatusCodes.Status200OK, _rendered, _keep, _tail),
    };

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(T), ["application/json"]));
}

/// <summary>201 with a Location and <typeparamref name="T"/> as JSON.</summary>
internal sealed class JsonCreated<T>(string location, T value) : IResult, IStatusCodeHttpResult, IEndpointMetadataProvider
{
    public int? StatusCode => StatusCodes.Status201Created;

    public string Location => location;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.Headers.Location = location;
        return JsonResults.WriteAsync(httpContext, StatusCodes.Status201Created, value);
    }

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status201Created, typeof(T), ["application/json"]));
}

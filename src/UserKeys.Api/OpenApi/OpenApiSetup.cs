using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;

namespace UserKeys.Api.OpenApi;

/// <summary>
/// The OpenAPI document (<c>/openapi/v1.json</c>) says what the service does: the bearer scheme, which
/// operations need it, and the 401/403 answers that authentication and roles add to every protected one.
/// </summary>
internal static class OpenApiSetup
{
    private const string BearerScheme = "Bearer";

    public static IServiceCollection AddUserKeysOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(options =>
        {
            // Opaque JSON is described where it is used (a key's meta, an event's changes), not as a shared "RawJson" type.
            options.CreateSchemaReferenceId = info =>
                info.Type == typeof(RawJson) || info.Type == typeof(RawJson?) || info.Type == typeof(Keys.Units) || info.Type == typeof(Keys.Units?)
                    ? null
                    : OpenApiOptions.CreateDefaultSchemaReferenceId(info);

            // A PATCH field (Optional<T>) is T on the wire, or null where the record allows it.
            options.AddSchemaTransformer(async (schema, context, cancellationToken) =>
            {
                var type = context.JsonTypeInfo.Type;
                if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Optional<>))
                {
                    var inner = await context.GetOrCreateSchemaAsync(type.GetGenericArguments()[0], cancellationToken: cancellationToken).ConfigureAwait(false);
                    var nullable = context.JsonPropertyInfo?.AttributeProvider?.IsDefined(typeof(NonNullAttribute), inherit: true) != true;
                    schema.Type = nullable ? inner.Type | JsonSchemaType.Null : inner.Type;
                    schema.Format = inner.Format;
                    schema.Pattern = inner.Pattern;
                    schema.Items = inner.Items;
                    schema.Properties = null;
                }

                if (context.JsonPropertyInfo?.AttributeProvider?.IsDefined(typeof(ScopeListAttribute), inherit: true) == true)
                {
                    schema.MaxItems = Scopes.All.Length * 2;
                    schema.Items = new OpenApiSchema
                    {
                        Type = JsonSchemaType.String,
                        Enum = [.. Scopes.All.Select(scope => (System.Text.Json.Nodes.JsonNode)System.Text.Json.Nodes.JsonValue.Create(scope)!)],
                    };
                }

                if (context.JsonPropertyInfo?.AttributeProvider?.IsDefined(typeof(PermissionListAttribute), inherit: true) == true)
                {
                    schema.MaxItems = PermissionListAttribute.MaxCount;
                    schema.Items = new OpenApiSchema
                    {
                        Type = JsonSchemaType.String,
                        MinLength = 1,
                        MaxLength = PermissionListAttribute.MaxLength,
                        Pattern = "^[A-Za-z0-9._:*-]+$",
                    };
                }

                // Opaque JSON the service keeps as it is: a key's meta (an object of at most 4 KiB, or null), an event's changes.
                if (type == typeof(RawJson) || type == typeof(RawJson?) || type == typeof(System.Text.Json.JsonElement?)
                    || type == typeof(Optional<System.Text.Json.JsonElement?>))
                {
                    schema.Type = type == typeof(RawJson) ? JsonSchemaType.Object : JsonSchemaType.Object | JsonSchemaType.Null;
                    schema.Properties = null;
                    schema.AdditionalPropertiesAllowed = true;
                    schema.Description = type == typeof(RawJson)
                        ? "Each changed field, as [before, after] (never the token hash)."
                        : $"A JSON object of at most {MetaObjectAttribute.MaxBytes} bytes (serialized compactly), or null; opaque to this API.";
                }

                if (context.JsonPropertyInfo?.AttributeProvider?.GetCustomAttributes(typeof(OneOfAttribute), inherit: true) is [OneOfAttribute oneOf, ..])
                {
                    schema.Enum = [.. oneOf.Values.Select(value => (System.Text.Json.Nodes.JsonNode)System.Text.Json.Nodes.JsonValue.Create((string)value!)!)];
                }
            });

            // A verification's remaining credits: a number, or null for an unlimited key.
            options.AddSchemaTransformer((schema, context, _) =>
            {
                if (context.JsonTypeInfo.Type == typeof(Keys.Units) || context.JsonTypeInfo.Type == typeof(Keys.Units?))
                {
                    schema.Type = JsonSchemaType.Integer | JsonSchemaType.Null;
                    schema.Format = "int64";
                    schema.Properties = null;
                    schema.Description = "The key's credits after this verification; null when unlimited. Only in a valid answer.";
                }

                return Task.CompletedTask;
            });

            // Timestamps are written by UtcTimestampConverter: say what it writes.
            options.AddSchemaTransformer((schema, context, _) =>
            {
                var type = context.JsonTypeInfo.Type;
                if (type == typeof(DateTime) || type == typeof(DateTime?))
                {
                    schema.Type = type == typeof(DateTime) ? JsonSchemaType.String : JsonSchemaType.String | JsonSchemaType.Null;
                    schema.Format = "date-time";
                    schema.Pattern = @"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$";
                }

                return Task.CompletedTask;
            });

            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "UserKeys",
                    Version = "v1",
                    Description = "Users and their API keys. Every error is application/problem+json (RFC 9457); " +
                        "timestamps are RFC 3339 UTC with microseconds; property names are snake_case.",
                };
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    BearerFormat = "uk_<43 base62 characters><6 base62 checksum characters>",
                    Description = "An API key token, as returned once by the call that created the key.",
                };
                return Task.CompletedTask;
            });

            options.AddOperationTransformer(async (operation, context, cancellationToken) =>
            {
                if (context.Description.ActionDescriptor.EndpointMetadata.OfType<JsonBodyMetadata>().FirstOrDefault() is { } body)
                {
                    operation.RequestBody = new OpenApiRequestBody
                    {
                        Required = body.Required,
                        Content = new Dictionary<string, OpenApiMediaType>
                        {
                            ["application/json"] = new OpenApiMediaType
                            {
                                Schema = await context.GetOrCreateSchemaAsync(body.Type, cancellationToken: cancellationToken).ConfigureAwait(false),
                            },
                        },
                    };
                }
            });

            options.AddOperationTransformer(async (operation, context, cancellationToken) =>
            {
                var metadata = context.Description.ActionDescriptor.EndpointMetadata;
                if (metadata.OfType<QueryParametersMetadata>().FirstOrDefault() is { } query)
                {
                    operation.Parameters ??= [];
                    foreach (var parameter in query.Parameters)
                    {
                        operation.Parameters.Add(new OpenApiParameter
                        {
                            Name = parameter.Name,
                            In = ParameterLocation.Query,
                            Required = false,
                            Description = parameter.Description,
                            Schema = new OpenApiSchema
                            {
                                Type = parameter.Type == "integer" ? JsonSchemaType.Integer : JsonSchemaType.String,
                                Minimum = parameter.Minimum?.ToString(System.Globalization.CultureInfo.InvariantCulture),
                                Maximum = parameter.Maximum?.ToString(System.Globalization.CultureInfo.InvariantCulture),
                            },
                        });
                    }
                }

                if (metadata.OfType<ResponseAlternativesMetadata>().FirstOrDefault() is { } alternatives
                    && operation.Responses?.TryGetValue("200", out var ok) == true && ok.Content?.TryGetValue("application/json", out var media) == true)
                {
                    var schemas = new List<IOpenApiSchema>();
                    foreach (var type in alternatives.Types)
                    {
                        schemas.Add(await context.GetOrCreateSchemaAsync(type, cancellationToken: cancellationToken).ConfigureAwait(false));
                    }

                    media.Schema = new OpenApiSchema { OneOf = schemas };
                }
            });

            options.AddOperationTransformer((operation, context, _) =>
            {
                var metadata = context.Description.ActionDescriptor.EndpointMetadata;
                if (metadata.OfType<DatabaseBackedMetadata>().Any())
                {
                    operation.Responses ??= new OpenApiResponses();
                    operation.Responses.TryAdd("503", Problem("The database is unavailable; nothing was written. Retry shortly (Retry-After)."));
                }

                if (metadata.OfType<IAllowAnonymous>().Any())
                {
                    return Task.CompletedTask;
                }

                var bearer = new OpenApiSecurityRequirement
                {
                    [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [],
                };
                var optional = metadata.OfType<OptionalCallerMetadata>().Any();
                // verify: anonymously (an empty requirement) or with a bearer key.
                operation.Security = optional ? [new OpenApiSecurityRequirement(), bearer] : [bearer];
                operation.Responses ??= new OpenApiResponses();
                operation.Responses.TryAdd("401", Problem("Missing, malformed, unknown, revoked or expired token (WWW-Authenticate: Bearer)"));
                var scopes = metadata.OfType<ScopeMetadata>().Select(scope => $"'{scope.Scope}'").Distinct().ToList();
                var admin = metadata.OfType<AdminMetadata>().Any();
                if (scopes.Count > 0 || admin)
                {
                    var needs = (admin ? "an admin's key" : "a key") + (scopes.Count > 0 ? $" with the scope {string.Join(" and ", scopes)}" : "");
                    operation.Responses.TryAdd("403", Problem($"The caller is not {needs}"));
                    operation.Description = string.IsNullOrEmpty(operation.Description)
                        ? $"Needs {needs}."
                        : $"Needs {needs}.\n\n{operation.Description}";
                }

                operation.Responses.TryAdd("429", Problem(
                    "Too many calls with this key, or too many refused tokens from this address (Retry-After, RateLimit, RateLimit-Policy)"));
                return Task.CompletedTask;
            });
        });

    private static OpenApiResponse Problem(string description) => new()
    {
        Description = description,
        Content = new Dictionary<string, OpenApiMediaType>
        {
            ["application/problem+json"] = new OpenApiMediaType { Schema = new OpenApiSchemaReference("ProblemDetails") },
        },
    };
}

/// <summary>
/// Endpoint metadata naming the JSON body an endpoint reads (added by <see cref="Infrastructure.IRequestBody{TSelf}"/>).
/// Not <c>Accepts&lt;T&gt;()</c>: that makes routing answer 415 to any other content type, while the
/// contract answers 400 to a body that is not JSON.
/// </summary>
public sealed record JsonBodyMetadata(Type Type, bool Required = true);

/// <summary>Query parameters an endpoint reads by hand (to answer 400 with field errors), for the document.</summary>
internal sealed record QueryParametersMetadata(params QueryParameter[] Parameters);

internal sealed record QueryParameter(string Name, string Type, string Description, long? Minimum = null, long? Maximum = null);

/// <summary>An endpoint whose 200 body is one of several shapes (oneOf in the document).</summary>
internal sealed record ResponseAlternativesMetadata(params Type[] Types);

/// <summary>An endpoint that may run statements (and so may answer 503).</summary>
internal sealed record DatabaseBackedMetadata
{
    public static readonly DatabaseBackedMetadata Instance = new();
}

internal static class DatabaseEndpointExtensions
{
    public static TBuilder WithDatabase<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(DatabaseBackedMetadata.Instance);
}

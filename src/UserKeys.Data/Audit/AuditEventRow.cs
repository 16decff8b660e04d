namespace UserKeys.Data.Audit;

/// <summary>A row of <c>audit_events</c> (migration 0009). <see cref="Changes"/> is jsonb's text: <c>{field: [before, after]}</c>.</summary>
public sealed record AuditEventRow
{
    public long Id { get; init; }

    public DateTime At { get; init; }

    public required string Action { get; init; }

    public long? ActorUserId { get; init; }

    public long? ActorKeyId { get; init; }

    public required string DbRole { get; init; }

    public long? UserId { get; init; }

    public long? KeyId { get; init; }

    public string? RequestId { get; init; }

    /// <summary>The caller's trace id (W3C), when tracing was on; beside <see cref="RequestId"/>, never instead (migration 0020).</summary>
    public string? TraceId { get; init; }

    public required string Changes { get; init; }
}

/// <summary>
/// Who acts in a read-write unit of work, as the audit triggers record it: the calling user and key and the
/// request's id (each null when unknown: a command, a background job).
/// </summary>
public sealed record AuditActor(long? UserId, long? KeyId, string? RequestId, string? TraceId = null)
{
    /// <summary>A command line run (no user, no key): <c>cli:&lt;command&gt;</c> stands in for the request id.</summary>
    public static AuditActor Command(string name) => new(null, null, "cli:" + name);
}

/// <summary>Which events a listing wants: any combination of one user, one key, one action (null: any).</summary>
public sealed record AuditFilter(long? UserId = null, long? KeyId = null, string? Action = null);

/// <summary>The actions the triggers record (<c>audit_events_action_check</c>).</summary>
public static class AuditActions
{
    public static readonly string[] All =
        ["user.created", "user.updated", "user.deleted", "key.created", "key.updated", "key.rolled", "key.revoked", "key.deleted"];
}

using UserKeys.Api.Infrastructure;
using UserKeys.Data.Audit;

namespace UserKeys.Api.Audit;

/// <summary>Who made a change: the calling user and key (null for a change made directly in SQL) and the database role.</summary>
public sealed record AuditActorResponse(long? UserId, long? KeyId, string DbRole);

/// <summary>
/// One recorded change (../shared/API.md, "Audit event"): <see cref="Changes"/> maps each changed field to
/// <c>[before, after]</c>; it never holds a token or its hash.
/// </summary>
public sealed record AuditEventResponse(
    long Id, DateTime At, string Action, AuditActorResponse Actor, long? UserId, long? KeyId, string? RequestId, string? TraceId, RawJson Changes)
{
    internal static AuditEventResponse From(AuditEventRow row) =>
        new(row.Id, row.At, row.Action, new AuditActorResponse(row.ActorUserId, row.ActorKeyId, row.DbRole), row.UserId, row.KeyId,
            row.RequestId, row.TraceId, new RawJson(row.Changes));
}

/// <summary>A page of events, newest first; <see cref="NextCursor"/> is null on the last page.</summary>
public sealed record AuditPageResponse(IReadOnlyList<AuditEventResponse> Items, string? NextCursor);

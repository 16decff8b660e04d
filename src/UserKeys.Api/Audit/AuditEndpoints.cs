using Microsoft.AspNetCore.Mvc;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.OpenApi;
using UserKeys.Api.Users;
using UserKeys.Data;

namespace UserKeys.Api.Audit;

internal static class AuditEndpoints
{
    public static IEndpointRouteBuilder MapAudit(this IEndpointRouteBuilder app)
    {
        var database = app.ServiceProvider.GetRequiredService<UnitOfWorkRunner>();
        var cursors = app.ServiceProvider.GetRequiredService<AuditCursor>();

        app.MapGet("/v1/audit", ([AuditFilters] AuditListQuery query, CancellationToken cancellationToken) =>
                ListAsync(null, query, cursors, database, cancellationToken))
            .ReadsStale()
            .WithTags("Audit")
            .WithDatabase()
            .RequireScope(Scopes.AuditRead)
            .RequireAdmin()
            .WithName("ListAuditEvents")
            .WithSummary("Every change to users and keys, newest first, a page at a time (admin)")
            .WithDescription("""
                Recorded by the database in the transaction that made the change, also a change made directly in SQL
                (then the actor's user_id and key_id are null and db_role names the database role). Filters combine:
                `user_id` (the events about that user and its keys, kept after the user is deleted), `key_id`, `action`.
                Events are append-only; the retention purge (`UserKeys__AuditRetentionDays`, default 365) removes old ones.
                """)
            .ProducesValidationProblem();

        app.MapGet("/v1/users/{id:long}/audit", (long id, AuditListQuery query, Caller caller, CancellationToken cancellationToken) =>
                ListAsync(Subject(caller, id), query, cursors, database, cancellationToken))
            .ReadsStale()
            .WithTags("Audit")
            .WithDatabase()
            .RequireScope(Scopes.AuditRead)
            .WithName("ListUserAuditEvents")
            .WithSummary("The changes to one user and its keys, newest first (admin, or the user itself)")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);

        return app;
    }

    private static long Subject(Caller caller, long id)
    {
        UserService.EnsureCanActOn(caller, id);
        return id;
    }

    /// <summary>One snapshot: the user's existence and its page agree.</summary>
    private static async Task<JsonOk<AuditPageResponse>> ListAsync(
        long? userId, AuditListQuery query, AuditCursor cursors, UnitOfWorkRunner database, CancellationToken cancellationToken) =>
        JsonResults.Ok(await database.ReadStaleAsync(userId is null ? UnitOfWorkMode.SingleStatement : UnitOfWorkMode.ReadOnly, async unit =>
        {
            await cursors.EnsureKeyAsync(unit, cancellationToken).ConfigureAwait(false);
            long? beforeId = null;
            if (query.After is { } after)
            {
                beforeId = cursors.TryDecode(after, out var decoded)
                    ? decoded
                    : throw new ValidationError("after", "is not a cursor this service issued for an audit listing (pass next_cursor from the previous page unchanged)");
            }

            var filter = query.Filter;
            if (userId is { } subject)
            {
                // 404 for a user that does not exist (its events stay listed under GET /v1/audit?user_id=).
                await unit.Users.GetAsync(subject, cancellationToken).ConfigureAwait(false);
                filter = filter with { UserId = subject };
            }

            // One event more than the page tells whether a next page exists, without a count.
            var events = await unit.Audit.ListAsync(filter, beforeId, query.Limit + 1, cancellationToken).ConfigureAwait(false);
            var next = events.Count > query.Limit ? cursors.Encode(events[query.Limit - 1].Id) : null;
            return new AuditPageResponse(events.Take(query.Limit).Select(AuditEventResponse.From).ToList(), next);
        }, cancellationToken));
}
